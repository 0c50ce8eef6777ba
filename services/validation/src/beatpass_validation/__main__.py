"""python -m beatpass_validation: the validation worker as its own process."""

from beatpass_common.config import get_settings
from beatpass_common.logs import setup_logging
from beatpass_common.runner import run

from .service import build


def main() -> None:
    setup_logging("validation")
    run([build(get_settings())])


if __name__ == "__main__":
    main()
