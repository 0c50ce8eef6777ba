from beatpass_common.migrations import run_env
from beatpass_fingerprint.models import Base

run_env(Base.metadata)
