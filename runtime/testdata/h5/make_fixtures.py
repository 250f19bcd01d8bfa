#!/usr/bin/python3
"""Writes the HDF5 fixtures in this directory (runtime/testdata/h5/).

How to run (from the repository root, on Debian):

    apt-get install -y python3-h5py python3-numpy
    /usr/bin/python3 runtime/testdata/h5/make_fixtures.py

The fixtures were made with h5py 3.7.0 on HDF5 1.10.8 (Debian 12). The
output is deterministic except for timestamps that HDF5 may embed, so the Go
tests never compare files byte for byte: they compare values. CI has no
Python: the Go tests read only the committed files.

What it writes:

* storage_v0.h5 / storage_v2.h5 / storage_latest.h5: the same content
  written with libver default ("earliest": superblock 0, object header v1,
  old-style symbol-table groups, data layout v3 with v1 B-tree chunk index),
  with libver="v108" (HDF5 1.8's format: superblock 2, object header v2,
  new-style groups, data layout v3 with v1 B-tree chunk index) and with
  libver="latest" (superblock 3, object header v2, new-style compact and
  dense groups, data layout v4 with single-chunk, implicit, fixed array,
  extensible array and v2 B-tree chunk indexes). Every dataset holds
  value[i] = i*a + b (flat C-order index i, computed in the dataset's dtype),
  with a and b listed in storage_manifest.json, so the Go tests recompute
  every value bit for bit.
* keras2_<model>*.h5: the golden safetensors models of testdata/golden
  re-saved in the Keras 2 / tf.keras HDF5 weights layout, exactly as
  tf.keras's hdf5_format.save_weights_to_hdf5_group writes it;
  keras2_tinyv2_notop.h5 without the classifier (as the published
  `..._notop.h5` files, for models built with include_top=False).
* keras2_nested.h5: a small synthetic Keras 2 file with a nested model, a
  uniquified variable scope, unscoped weight names and a layer_names
  attribute split into layer_names0/layer_names1 (as Keras does when the
  attribute exceeds 64512 bytes).
* keras3_tinyv2.weights.h5 / keras3_tinyv2_nested.weights.h5: tinyv2 in the
  Keras 3 `.weights.h5` layout that keras/src/saving/saving_lib.py
  (H5IOStore, _save_state, _save_container_state) writes.
"""

import json
import os
import struct

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "..", "..", "testdata", "golden")


def values(n, dtype, a, b):
    """value[i] = i*a + b, each operation rounded in dtype."""
    dt = np.dtype(dtype)
    i = np.arange(n, dtype=dt)
    return ((i * dt.type(a)).astype(dt) + dt.type(b)).astype(dt)


# ---------------------------------------------------------------------------
# storage fixtures

def storage_specs():
    """(name, shape, dtype, a, b, create_dataset kwargs)."""
    return [
        ("contig_f32", (3, 4, 5), "<f4", 0.25, -3.0, {}),
        ("contig_f64", (7,), "<f8", 0.1, -3.0, {}),
        ("be_f32", (2, 5), ">f4", 0.5, 1.0, {}),
        ("scalar_f64", (), "<f8", 0.0, 2.5, {}),
        ("chunked_f32", (10, 12), "<f4", 0.25, -7.0, {"chunks": (4, 5)}),
        ("chunked_gzip_f32", (10, 12), "<f4", 0.125, 1.0,
         {"chunks": (4, 5), "compression": "gzip", "compression_opts": 4}),
        ("chunked_shuffle_gzip_f64", (9, 7), "<f8", 0.1, -1.0,
         {"chunks": (4, 4), "shuffle": True, "compression": "gzip"}),
        ("chunked_fletcher_f32", (6, 6), "<f4", 1.5, 0.0,
         {"chunks": (3, 3), "fletcher32": True}),
        ("single_chunk_f32", (5, 6), "<f4", 0.75, 2.0, {"chunks": (5, 6)}),
        ("single_chunk_gzip_f64", (5, 6), "<f8", 0.3, 0.5,
         {"chunks": (5, 6), "compression": "gzip"}),
        ("ext_f32", (50, 6), "<f4", 0.5, -10.0,
         {"chunks": (2, 6), "maxshape": (None, 6)}),
        ("ext_big_f32", (300, 4), "<f4", 0.25, 0.0,
         {"chunks": (1, 4), "maxshape": (None, 4)}),
        ("ext_gzip_f32", (40,), "<f4", 2.0, 1.0,
         {"chunks": (2,), "maxshape": (None,), "compression": "gzip"}),
        ("bt2_f32", (20, 30), "<f4", 0.5, 3.0,
         {"chunks": (3, 4), "maxshape": (None, None)}),
        ("bt2_gzip_f64", (20, 30), "<f8", 0.01, -2.0,
         {"chunks": (3, 4), "maxshape": (None, None), "compression": "gzip"}),
        ("paged_f32", (1100,), "<f4", 1.0, 0.0, {"chunks": (1,)}),
        ("half_f16", (3, 4), "<f2", 0.5, -2.0, {}),
        ("int16_i2", (5,), "<i2", 3.0, -7.0, {}),
    ]


def build_storage(path, libver):
    manifest = {"datasets": {}}
    with h5py.File(path, "w", libver=libver) as f:
        for name, shape, dtype, a, b, kw in storage_specs():
            n = int(np.prod(shape)) if shape else 1
            data = values(n, dtype, a, b).reshape(shape)
            f.create_dataset(name, data=data, dtype=dtype, **kw)
            manifest["datasets"][name] = {"shape": list(shape), "dtype": dtype, "a": a, "b": b}

        # compact layout (low-level API: h5py's high level has no switch).
        data = values(6, "<f4", 1.25, -2.0).reshape(2, 3)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple((2, 3))
        ds = h5py.h5d.create(f.id, b"compact_f32", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
        manifest["datasets"]["compact_f32"] = {"shape": [2, 3], "dtype": "<f4", "a": 1.25, "b": -2.0}

        # chunked, early allocation, no filter: the "implicit" chunk index
        # with libver latest.
        data = values(36, "<f4", 0.5, 0.25).reshape(6, 6)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((2, 3))
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        space = h5py.h5s.create_simple((6, 6))
        ds = h5py.h5d.create(f.id, b"implicit_f32", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
        manifest["datasets"]["implicit_f32"] = {"shape": [6, 6], "dtype": "<f4", "a": 0.5, "b": 0.25}

        # chunked with unwritten chunks: those read as the fill value.
        d = f.create_dataset("sparse_fill_f32", shape=(8, 8), dtype="<f4", chunks=(4, 4), fillvalue=1.5)
        d[0:4, 4:8] = values(16, "<f4", 1.0, 100.0).reshape(4, 4)
        manifest["datasets"]["sparse_fill_f32"] = {
            "shape": [8, 8], "dtype": "<f4", "fill": 1.5,
            "region": [[0, 4], [4, 8]], "a": 1.0, "b": 100.0}

        # nested groups for path lookup.
        g = f.create_group("a").create_group("b").create_group("c")
        g.create_dataset("leaf", data=values(3, "<f4", 1.0, 7.0))
        manifest["datasets"]["a/b/c/leaf"] = {"shape": [3], "dtype": "<f4", "a": 1.0, "b": 7.0}

        # a soft link to it.
        f["soft_leaf"] = h5py.SoftLink("/a/b/c/leaf")
        manifest["datasets"]["soft_leaf"] = {"shape": [3], "dtype": "<f4", "a": 1.0, "b": 7.0}

        # a group with few members (compact links with libver latest) and
        # one with 200 (dense links: fractal heap + v2 B-tree).
        few = f.create_group("few")
        for k in range(3):
            few.create_group("g%d" % k)
        big = f.create_group("big")
        for k in range(200):
            big.create_dataset("layer_%03d" % k, data=np.array([k], dtype="<f4"))
        manifest["big"] = 200

        # attributes of every kind Keras files use.
        f.attrs["fixed_strs"] = np.array([b"alpha", b"be", b"gamma_delta"])
        f.attrs["vlen_strs"] = np.array(["one", "twenty-two", "\u00fcn\u00efcode"],
                                        dtype=h5py.string_dtype("utf-8"))
        f.attrs["vlen_scalar"] = "hello"
        f.attrs["fixed_scalar"] = np.bytes_(b"tensorflow")
        f.attrs["empty_f64"] = np.asarray([])
        f.attrs["f64s"] = np.array([1.5, -2.25, 3.0])
        f.attrs["i32s"] = np.array([1, -2, 3], dtype="<i4")

        # more than 8 attributes: dense attribute storage with libver latest.
        many = f.create_group("many_attrs")
        for k in range(12):
            many.attrs["attr_%02d" % k] = np.array([b"v%d" % k, b"w%d" % k])
        # a big attribute: 4000 names of 25 bytes = 100000 bytes. It does not
        # fit an object header message (64 KiB): with libver v108 or latest
        # HDF5 stores it densely, as a "huge" fractal-heap object. libver
        # earliest cannot store it at all, so that file gets 2400 names.
        count = 2400 if libver == "earliest" else 4000
        names = np.array([("layer_name_%014d" % k).encode() for k in range(count)])
        f.create_group("big_attr").attrs["layer_names"] = names
        manifest["big_attr_count"] = count
    return manifest


# ---------------------------------------------------------------------------
# golden models

def read_safetensors(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        lo, hi = info["data_offsets"]
        arr = np.frombuffer(raw[base + lo:base + hi], dtype="<f4").reshape(info["shape"])
        out.append((lo, name, arr))
    out.sort(key=lambda t: t[0])  # file order
    return [(name, arr) for _, name, arr in out]


def layers_of(tensors):
    """[(layer, [(param, array)])] in order of first appearance."""
    order, by = [], {}
    for name, arr in tensors:
        layer, param = name.rsplit("/", 1)
        if layer not in by:
            by[layer] = []
            order.append(layer)
        by[layer].append((param, arr))
    return [(layer, by[layer]) for layer in order]


def keras2_layers(layers, top=True):
    """Keras 2 layer list with a few weightless layers, as Keras lists them;
    without the classifier (avg_pool, predictions) unless top."""
    out = [("input_1", []), ("conv1_pad", [])]
    names = {l for l, _ in layers}
    for layer, params in layers:
        if layer == "predictions":
            if not top:
                continue
            out.append(("avg_pool", []))
        out.append((layer, params))
        if layer == "post_bn":
            out.append(("post_relu", []))
        if layer == "conv1_bn" and "post_bn" not in names:
            out.append(("conv1_relu", []))
    return out


def save_keras2_group(group, layers, chunked):
    """Mirror of tf.keras hdf5_format.save_weights_to_hdf5_group."""
    group.attrs["layer_names"] = [name.encode("utf8") for name, _ in layers]
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.13.1"
    for name, params in sorted(layers, key=lambda t: t[0]):
        g = group.create_group(name)
        weight_names = [("%s/%s:0" % (name, p)).encode("utf8") for p, _ in params]
        g.attrs["weight_names"] = weight_names
        for wname, (_, val) in zip(weight_names, params):
            if chunked:
                d = g.create_dataset(wname, data=val, chunks=True, compression="gzip", shuffle=True)
            else:
                d = g.create_dataset(wname, val.shape, dtype=val.dtype)
                d[:] = val


def build_keras2(model, path, libver, full_model, chunked, top=True):
    layers = keras2_layers(layers_of(read_safetensors(os.path.join(GOLDEN, model + ".safetensors"))), top)
    with h5py.File(path, "w", libver=libver) as f:
        if full_model:
            # model.save('x.h5'): config attributes at the root, weights
            # under /model_weights, optimizer state under /optimizer_weights.
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = b"2.13.1"
            f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {"name": model}}).encode()
            save_keras2_group(f.create_group("model_weights"), layers, chunked)
            ow = f.create_group("optimizer_weights")
            ow.attrs["weight_names"] = [b"Adam/iter:0"]
            ow.create_dataset(b"Adam/iter:0", data=np.int64(7))
        else:
            save_keras2_group(f, layers, chunked)


def build_keras2_nested(path):
    rng = np.random.default_rng(5)

    def arr(*shape):
        return rng.standard_normal(shape).astype("<f4")

    with h5py.File(path, "w") as f:
        names = [b"input_2", b"base", b"head", b"solo", b"flatten"]
        f.attrs["layer_names0"] = names[:3]
        f.attrs["layer_names1"] = names[3:]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.13.1"
        spec = {
            "input_2": [],
            # a nested model: the group holds the weights of several layers.
            "base": [("conv_a/kernel:0", arr(3, 3, 2, 4)), ("conv_a/bias:0", arr(4)),
                     ("bn_b/gamma:0", arr(4)), ("bn_b/beta:0", arr(4)),
                     ("bn_b/moving_mean:0", arr(4)), ("bn_b/moving_variance:0", arr(4))],
            # a variable scope uniquified by TF ("head_1") under layer "head".
            "head": [("head_1/kernel:0", arr(4, 3)), ("head_1/bias:0", arr(3))],
            # unscoped weight names.
            "solo": [("kernel:0", arr(2, 2))],
            "flatten": [],
        }
        expect = {}
        for name in sorted(spec):
            g = f.create_group(name)
            g.attrs["weight_names"] = [w.encode() for w, _ in spec[name]]
            for w, v in spec[name]:
                g.create_dataset(w.encode(), data=v)
        expect = {
            "conv_a/kernel": spec["base"][0][1], "conv_a/bias": spec["base"][1][1],
            "bn_b/gamma": spec["base"][2][1], "bn_b/beta": spec["base"][3][1],
            "bn_b/moving_mean": spec["base"][4][1], "bn_b/moving_variance": spec["base"][5][1],
            "head/kernel": spec["head"][0][1], "head/bias": spec["head"][1][1],
            "solo/kernel": spec["solo"][0][1],
        }
    return {k: {"shape": list(v.shape), "data": [float(x) for x in v.ravel()]} for k, v in expect.items()}


# ---------------------------------------------------------------------------
# Keras 3

def keras3_class(params):
    names = [p for p, _ in params]
    if "gamma" in names:
        return "BatchNormalization"
    if params[0][1].ndim == 4:
        return "Conv2D"
    return "Dense"


SNAKE = {"BatchNormalization": "batch_normalization", "Conv2D": "conv2d", "Dense": "dense",
         "InputLayer": "input_layer", "ZeroPadding2D": "zero_padding2d", "Activation": "activation",
         "GlobalAveragePooling2D": "global_average_pooling2d", "Add": "add",
         "MaxPooling2D": "max_pooling2d"}


def keras3_layer_list(layers):
    """(class, name, params) in model.layers order, weightless ones included."""
    out = [("InputLayer", "input_layer", []), ("ZeroPadding2D", "conv1_pad", [])]
    for layer, params in layers:
        if layer == "predictions":
            out.append(("GlobalAveragePooling2D", "avg_pool", []))
        out.append((keras3_class(params), layer, params))
        if layer.endswith("_bn"):
            out.append(("Activation", layer[:-3] + "_relu", []))
        if layer.endswith("_3_conv"):
            out.append(("Add", layer[:-len("_3_conv")] + "_out", []))
    return out


def save_keras3_container(f, prefix, layer_list):
    """Mirror of saving_lib._save_container_state + _save_state + H5IOStore."""
    used = {}
    for cls, name, params in layer_list:
        snake = SNAKE[cls]
        if snake in used:
            used[snake] += 1
            key = "%s_%d" % (snake, used[snake])
        else:
            used[snake] = 0
            key = snake
        # H5IOStore.make(path, metadata={"name": layer.name}) creates
        # <path>/vars at once (Keras >= 3.6) and sets attrs["name"].
        vars_group = f.create_group(prefix + "/" + key).create_group("vars")
        vars_group.attrs["name"] = name
        # Layer.save_own_variables: store[str(i)] = v for trainable then
        # non-trainable variables.
        for i, (_, val) in enumerate(params):
            vars_group[str(i)] = val


def build_keras3(model, path, nested):
    layers = layers_of(read_safetensors(os.path.join(GOLDEN, model + ".safetensors")))
    with h5py.File(path, "w") as f:
        # _save_state(model, inner_path=""): make("", {"name": model.name}).
        f.create_group("vars").attrs["name"] = "outer" if nested else model
        layer_list = keras3_layer_list(layers)
        if nested:
            # Outer Functional: [InputLayer, <inner Functional>]; the inner
            # model is a KerasSaveable in the container "layers", named by
            # its class: "functional".
            g = f.create_group("layers/input_layer").create_group("vars")
            g.attrs["name"] = "input_layer_1"
            inner = f.create_group("layers/functional").create_group("vars")
            inner.attrs["name"] = model
            save_keras3_container(f, "layers/functional/layers", layer_list)
        else:
            save_keras3_container(f, "layers", layer_list)
        # A compiled model also saves its optimizer (not a layer).
        opt = f.create_group("optimizer").create_group("vars")
        opt.attrs["name"] = "adam"
        opt["0"] = np.int64(10)
        opt["1"] = np.float32(0.001)


def main():
    manifest = {}
    for libver, name in (("earliest", "storage_v0.h5"), ("v108", "storage_v2.h5"), ("latest", "storage_latest.h5")):
        manifest[name] = build_storage(os.path.join(HERE, name), libver)
    with open(os.path.join(HERE, "storage_manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
        fh.write("\n")

    build_keras2("tinyv2", os.path.join(HERE, "keras2_tinyv2.h5"), "earliest", False, False)
    build_keras2("tinyv2", os.path.join(HERE, "keras2_tinyv2_notop.h5"), "earliest", False, False, top=False)
    build_keras2("tinyv1", os.path.join(HERE, "keras2_tinyv1_full_latest.h5"), "latest", True, True)
    build_keras2("stemv2", os.path.join(HERE, "keras2_stemv2_latest.h5"), "latest", False, True)
    expect = build_keras2_nested(os.path.join(HERE, "keras2_nested.h5"))
    with open(os.path.join(HERE, "keras2_nested.json"), "w") as fh:
        json.dump(expect, fh, sort_keys=True)
        fh.write("\n")
    build_keras3("tinyv2", os.path.join(HERE, "keras3_tinyv2.weights.h5"), False)
    build_keras3("tinyv2", os.path.join(HERE, "keras3_tinyv2_nested.weights.h5"), True)


if __name__ == "__main__":
    main()
