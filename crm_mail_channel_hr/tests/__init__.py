from . import test_email_manager
