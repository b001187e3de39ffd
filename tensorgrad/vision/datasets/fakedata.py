"""FakeData: random images that depend only on the index (and random_offset), drawn from tensorgrad's generator
reseeded per item as torchvision does, leaving the global RNG state as it was."""
import tensorgrad as tg

from ..transforms.functional import to_pil_image
from .vision import VisionDataset


class FakeData(VisionDataset):
    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None, target_transform=None,
                 random_offset=0):
        super().__init__(transform=transform, target_transform=target_transform)
        self.size, self.num_classes, self.image_size, self.random_offset = size, num_classes, image_size, random_offset

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(f"{type(self).__name__} index {index} out of range (size {self.size})")
        state = tg.get_rng_state()
        tg.manual_seed(index + self.random_offset)
        img = tg.randn(*self.image_size)
        target = tg.randint(0, self.num_classes, size=(1,), dtype=tg.int64)[0]
        tg.set_rng_state(state)
        img = to_pil_image(img)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, int(target) if isinstance(target, tg.Tensor) else target

    def __len__(self):
        return self.size
