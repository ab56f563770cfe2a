from . import test_microsoft_sign_in
