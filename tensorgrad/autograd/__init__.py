from .function import Function
from . import custom_function  # noqa: F401  (sets up Function subclasses written in torch's style)
from .grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from .engine import backward, grad
from .gradcheck import gradcheck, gradgradcheck
from .anomaly import detect_anomaly, set_detect_anomaly, is_anomaly_enabled
from . import functional
from . import forward_ad  # noqa: F401  (torch.autograd.forward_ad)
from .variable import Variable
from .grad_mode import inference_mode

__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "backward", "grad", "gradcheck", "gradgradcheck",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "Variable", "inference_mode"]
