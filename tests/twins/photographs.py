"""scikit-image's bundled photographs as the ImageNet sanity tests feed them (imported by the Keras columns'
probe processes too, so nothing here may import conftest)."""
import numpy as np

# the photographs and the ImageNet classes an ImageNet model gives them
PHOTOS = {"coffee": {"espresso"}, "chelsea": {"Egyptian cat", "tiger cat", "tabby"}}


def photograph(name: str, size: int = 224) -> np.ndarray:
    """The centre square of a bundled photograph, resized with PIL (bilinear), scaled as the network was
    trained: (pixel - 127) / 128."""
    from PIL import Image
    from skimage import data

    img = getattr(data, name)()[..., :3]
    h, w = img.shape[:2]
    s = min(h, w)
    crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    pixels = np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR), np.float32)
    return (pixels - 127.0) / 128.0
