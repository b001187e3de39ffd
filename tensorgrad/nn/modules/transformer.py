"""torch.nn.modules.transformer: tensorgrad.nn's classes that torch defines in that file."""
from .. import Transformer, TransformerEncoder, TransformerDecoder, TransformerEncoderLayer, TransformerDecoderLayer
from ..transformer import _get_activation_fn as _named_activation_fn

__all__ = ['Transformer', 'TransformerEncoder', 'TransformerDecoder', 'TransformerEncoderLayer',
           'TransformerDecoderLayer']


def _get_activation_fn(activation):
    """torch's private helper, which timm's ML-Decoder imports: 'relu' / 'gelu' to the function."""
    return _named_activation_fn("_get_activation_fn", activation)
