"""The model registry (list_models, get_model, get_model_builder) and the refusal of pretrained weights: torchvision's
weights are torch pickles fetched from download.pytorch.org, which tensorgrad neither downloads nor unpickles."""
import fnmatch

_MODELS = {}


def register_model(name=None):
    def wrap(fn):
        key = name or fn.__name__
        if key in _MODELS:
            raise ValueError(f"register_model: an entry is already registered under the name {key!r}")
        _MODELS[key] = fn
        return fn
    return wrap


def check_weights(builder, weights, kwargs):
    """Accept only untrained construction: weights=None (or the legacy pretrained=False / pretrained_backbone=False);
    anything else is refused with what to do instead."""
    for legacy in ("pretrained", "pretrained_backbone"):
        if kwargs.pop(legacy, False):
            weights = weights or f"{legacy}=True"
    if weights is not None:
        raise NotImplementedError(
            f"{builder}: pretrained weights ({weights!r}) are not available in tensorgrad.vision: torchvision "
            f"downloads them as torch pickles, which tensorgrad does not load. Build the model with weights=None; to "
            f"use torchvision's trained weights, save them with real torch as safetensors "
            f"(safetensors.torch.save_file(model.state_dict(), path)) and load_state_dict(tensorgrad.load(path)); "
            f"the state_dict keys are the same")
    kwargs.pop("progress", None)
    return kwargs


def list_models(module=None, include=None, exclude=None):
    """Sorted names of the registered builders (of one models submodule if given), filtered by fnmatch patterns."""
    names = [k for k, fn in _MODELS.items() if module is None or fn.__module__.rsplit(".", 1)[0] == module.__name__
             or fn.__module__ == module.__name__]
    if include:
        patterns = [include] if isinstance(include, str) else include
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    if exclude:
        patterns = [exclude] if isinstance(exclude, str) else exclude
        names = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in patterns)]
    return sorted(names)


def get_model_builder(name):
    name = name.lower()
    if name not in _MODELS:
        raise ValueError(f"get_model_builder: unknown model {name!r}; tensorgrad.vision has {sorted(_MODELS)}")
    return _MODELS[name]


def get_model(name, **config):
    return get_model_builder(name)(**config)


def get_weight(name):
    raise NotImplementedError(f"get_weight({name!r}): pretrained weights are not available in tensorgrad.vision "
                              f"(torchvision's are torch pickles)")


def get_model_weights(name):
    return get_weight(name)


