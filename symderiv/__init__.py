"""symderiv: exact, proved statements about neural-network gradients.

Describe a network (:func:`mlp`) and an init (:func:`zeros`, :func:`constant`,
:func:`generic`, arrays or a per-parameter mapping), then

* :func:`gradients` / :func:`forward` - closed forms at the init;
* :func:`analyze` - which weights stay zero or tied forever, and when each moves;
* :func:`check` - a hand derivation proved or refuted line by line;
* :func:`analyze_depth` - statements for every depth of a family (:func:`mlp_family`, :func:`rezero_family`).
"""
from .activations import Activation, activation, register_activation, registered_activations
from .analysis import Analysis, analyze
from .claims import Verdict, check
from .depth import analyze_depth, mlp_family, rezero_family
from .engine import ClassMatrix, Derivation, derive, forward, gradients
from .errors import SymderivError
from .init import constant, generic, zeros
from .latex import analysis_latex, latex, proof_document
from .losses import loss, register_loss, registered_losses
from .network import Network, mlp
from .notebook import notebook
from .verify import VerifyReport, verify

__all__ = [
    "Activation", "activation", "register_activation", "registered_activations",
    "Analysis", "analyze",
    "Verdict", "check",
    "analyze_depth", "mlp_family", "rezero_family",
    "analysis_latex", "latex", "proof_document",
    "ClassMatrix", "Derivation", "derive", "forward", "gradients",
    "SymderivError",
    "constant", "generic", "zeros",
    "loss", "register_loss", "registered_losses",
    "Network", "mlp",
    "notebook",
    "VerifyReport", "verify",
]
__version__ = "0.1.0"
