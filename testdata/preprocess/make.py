#!/usr/bin/python3
"""Expected inputs for runtime.PreprocessImage (a generated package's
Preprocess), computed by the pipeline Keras users run:

    x = img_to_array(load_img(path, target_size=(h, w)))   # PIL, NEAREST
    x = preprocess_input(x)                                # imagenet_utils, per mode

and, for models that declare resize = R, torchvision's evaluation transform

    img = Image.open(path).convert("RGB")                   # torchvision's pil_loader
    x = Compose([Resize(R), CenterCrop((h, w)), ToTensor(), Normalize(mean, std)])(img)

computed by torchvision itself (Debian's python3-torchvision) when it is
installed (TORCHVISION below).

written here with PIL and NumPy alone (load_img, img_to_array and
preprocess_input below do what keras.utils and
keras.applications.imagenet_utils do for color_mode="rgb",
interpolation="nearest", channels_last, on a NumPy array). runtime's
TestPreprocessPIL compares with these files. Not run in CI: its outputs
are committed. To regenerate them, with Debian's Pillow and NumPy:

    apt-get install -y python3-pil python3-numpy
    /usr/bin/python3 testdata/preprocess/make.py

The test images were made from scikit-image's sample photos (Debian's
python3-skimage): chelsea.png and coffee.png (CC0, Stefan van der Walt and
Rachel Michetti), rocket.jpg (public domain, SpaceX), astronaut.png (public
domain, NASA) and camera.png (CC0, Lav Varshney). To remake them too:

    apt-get download python3-skimage && dpkg -x python3-skimage_*.deb x
    /usr/bin/python3 testdata/preprocess/make.py x/usr/lib/python3/dist-packages/skimage/data

Made with Pillow 9.4.0 (libjpeg-turbo) and NumPy 1.24.2 (Debian 12).
"""

import io
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
RS = getattr(Image, "Resampling", Image)

# The test images: file, what it exercises.
IMAGES = [
    ("cat.jpg", "colour JPEG, 4:2:0 baseline, 225x150 (odd width)"),
    ("rocket.jpg", "colour JPEG, 4:2:2 progressive, 161x107"),
    ("cmyk.jpg", "Adobe CMYK JPEG, 61x41"),
    ("camera.jpg", "grayscale JPEG, 97x80"),
    ("coffee.png", "RGBA PNG, 120x80: alpha ramp, rows 0-9 fully transparent with their colour kept"),
    ("astronaut.png", "grayscale (L) PNG, 96x128"),
    ("palette.png", "paletted PNG, 113x75, 64 colours, 4 of them transparent (tRNS)"),
    ("ramp.png", "RGB PNG, 16x16: every value 0..255 in every channel"),
]

# The modes; meanstd with the CIFAR-10 mean and std of models/lib/variants.rn.
CIFAR_MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255]
CIFAR_STD = [63.0 / 255, 62.1 / 255, 66.7 / 255]
MODES = ["raw", "tf", "caffe", "torch", "meanstd"]


def load_img(path, target_size):
    """keras.utils.load_img(path, target_size=target_size): color_mode "rgb",
    interpolation "nearest", keep_aspect_ratio False."""
    with open(path, "rb") as f:
        img = Image.open(io.BytesIO(f.read()))
    if img.mode != "RGB":
        img = img.convert("RGB")
    width_height = (target_size[1], target_size[0])
    if img.size != width_height:
        img = img.resize(width_height, RS.NEAREST)
    return img


def img_to_array(img):
    """keras.utils.img_to_array: float32, (height, width, channels)."""
    return np.asarray(img, dtype="float32")


def preprocess_input(x, mode):
    """imagenet_utils._preprocess_numpy_input(x, "channels_last", mode), in
    place on a float32 copy; "raw" returns x, "meanstd" is the torch mode
    with the CIFAR mean and std."""
    x = x.copy()
    if mode == "raw":
        return x
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode in ("torch", "meanstd"):
        x /= 255.0
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
        if mode == "meanstd":
            mean, std = CIFAR_MEAN, CIFAR_STD
    else:  # caffe: 'RGB'->'BGR', zero-centred by the ImageNet mean pixel
        x = x[..., ::-1]
        mean, std = [103.939, 116.779, 123.68], None
    x[..., 0] -= mean[0]
    x[..., 1] -= mean[1]
    x[..., 2] -= mean[2]
    if std is not None:
        x[..., 0] /= std[0]
        x[..., 1] /= std[1]
        x[..., 2] /= std[2]
    return x


def make_images(src):
    """Remakes the test images from scikit-image's data directory src."""
    lanczos = RS.LANCZOS
    cat = Image.open(os.path.join(src, "chelsea.png")).convert("RGB")
    cat.resize((225, 150), lanczos).save(out("cat.jpg"), quality=90, subsampling=2)
    rocket = Image.open(os.path.join(src, "rocket.jpg")).convert("RGB")
    rocket.resize((161, 107), lanczos).save(out("rocket.jpg"), quality=85, subsampling=1, progressive=True)
    cat.resize((61, 41), lanczos).convert("CMYK").save(out("cmyk.jpg"), quality=90)
    camera = Image.open(os.path.join(src, "camera.png")).convert("L")
    camera.resize((97, 80), lanczos).save(out("camera.jpg"), quality=90)
    coffee = np.asarray(Image.open(os.path.join(src, "coffee.png")).convert("RGB").resize((120, 80), lanczos))
    alpha = np.tile(np.linspace(0, 255, 120).round().astype(np.uint8), (80, 1))
    alpha[:10] = 0
    Image.fromarray(np.dstack([coffee, alpha]), "RGBA").save(out("coffee.png"))
    astronaut = Image.open(os.path.join(src, "astronaut.png")).convert("L")
    astronaut.resize((96, 128), lanczos).save(out("astronaut.png"))
    pal = cat.resize((113, 75), lanczos).quantize(64)
    pal.save(out("palette.png"), transparency=bytes([0, 64, 128, 200] + [255] * 60))


def make_ramp():
    i = np.arange(256).reshape(16, 16)
    rgb = np.dstack([i, 255 - i, (i * 7 + 3) % 256]).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(out("ramp.png"))


def out(name):
    return os.path.join(HERE, name)


def save(name, x):
    np.save(out(name), np.ascontiguousarray(x, dtype="<f4"))


def nearest_table():
    """PIL's NEAREST source index for every output index, for the (src, dst)
    sizes below: a flat float32 array of records src, dst, index_0 ..
    index_dst-1. The image encodes its column number in its values."""
    pairs = [(s, d) for s in range(1, 21) for d in range(1, 21)]
    pairs += [(640, 224), (427, 224), (451, 224), (300, 224), (7, 224), (2, 23), (1000, 7), (224, 224), (3, 64), (1023, 100)]
    rec = []
    for s, d in pairs:
        a = np.arange(s, dtype=np.int32)[None, :]
        idx = np.asarray(Image.fromarray(a, "I").resize((d, 1), RS.NEAREST))[0]
        rec += [s, d] + list(idx)
    return np.array(rec, dtype="<f4")


# torchvision's evaluation transform: (image, Resize's size, CenterCrop's
# (height, width)), each exercising: downsampling by 1.25 with a crop whose
# offsets are both x.5 (Python's round to even); by 5 (wide filter
# support); upsampling; a crop taller than the resized image (zero
# padding); a crop offset of 0.5 rounding to 0; a colour JPEG.
TORCHVISION = [
    ("coffee.png", 64, (55, 57)),
    ("coffee.png", 16, (16, 16)),
    ("ramp.png", 24, (20, 20)),
    ("palette.png", 32, (40, 36)),
    ("astronaut.png", 57, (56, 56)),
    ("cat.jpg", 100, (96, 96)),
]


def torchvision_name(name, resize, crop):
    return "%s-torchvision-%d-%dx%d.npy" % (name, resize, crop[0], crop[1])


def torchvision_eval():
    import torchvision.transforms as T

    for name, resize, crop in TORCHVISION:
        t = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(),
                       T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
        with open(out(name), "rb") as f:
            img = Image.open(io.BytesIO(f.read())).convert("RGB")
        save(torchvision_name(name, resize, crop), t(img).numpy())


def main():
    if len(sys.argv) > 1:
        make_images(sys.argv[1])
    make_ramp()
    for name, _ in IMAGES:
        if name == "ramp.png":
            continue
        save(name + "-raw-32x48.npy", preprocess_input(img_to_array(load_img(out(name), (32, 48))), "raw"))
    for mode in MODES:
        save("coffee.png-%s-32x48.npy" % mode, preprocess_input(img_to_array(load_img(out("coffee.png"), (32, 48))), mode))
        save("ramp.png-%s-16x16.npy" % mode, preprocess_input(img_to_array(load_img(out("ramp.png"), (16, 16))), mode))
    save("ramp.png-raw-20x37.npy", img_to_array(load_img(out("ramp.png"), (20, 37))))
    save("nearest.npy", nearest_table())
    try:
        import torchvision  # noqa: F401
    except ImportError:
        print("make.py: torchvision is not installed: the torchvision files are not remade", file=sys.stderr)
        return
    torchvision_eval()


if __name__ == "__main__":
    main()
