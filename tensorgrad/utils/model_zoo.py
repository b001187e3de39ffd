"""torch.utils.model_zoo: the older name of torch.hub's checkpoint download (model_zoo.load_url)."""
from ..hub import load_state_dict_from_url as load_url  # noqa: F401
from ..hub import load_state_dict_from_url  # noqa: F401
