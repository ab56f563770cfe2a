from . import test_queue_job_channels
from . import test_queue_job_sync
