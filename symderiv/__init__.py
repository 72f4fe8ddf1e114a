"""symderiv: exact, proved statements about neural-network gradients."""
from .activations import Activation, activation, register_activation, registered_activations
from .errors import SymderivError
from .init import constant, generic, zeros
from .losses import loss, register_loss, registered_losses
from .network import Network, mlp

__all__ = [
    "Activation", "activation", "register_activation", "registered_activations",
    "SymderivError",
    "constant", "generic", "zeros",
    "loss", "register_loss", "registered_losses",
    "Network", "mlp",
]
__version__ = "0.1.0"
