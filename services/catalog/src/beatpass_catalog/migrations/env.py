from beatpass_catalog.models import Base
from beatpass_common.migrations import run_env

run_env(Base.metadata)
