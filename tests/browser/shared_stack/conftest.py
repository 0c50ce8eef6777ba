"""One platform for the browser tests of this package (each start of the five services costs
20-80 s on a busy machine). Its tests only add records of producers of their own, and their audio
differs: the same audio twice is a duplicate, across producers too. The stack stops when the
package's last test ends, so no other test's platform (same RabbitMQ vhost) runs beside it."""

from __future__ import annotations

import pytest

LIBRARY_PAGE_SIZE = 2  # small, so the library's pages show with a few tracks


@pytest.fixture(scope="package")
def stack(make_platform, tmp_path_factory):
    with make_platform(tmp_path_factory.mktemp("browser")) as platform:
        platform.start_all({"upload": {"BEATPASS_LIBRARY_PAGE_SIZE": str(LIBRARY_PAGE_SIZE)}})
        yield platform


@pytest.fixture
def library_page_size() -> int:
    return LIBRARY_PAGE_SIZE
