#!/usr/bin/env python3
"""An Open Inference Protocol (KServe v2) REST client, with Python's requests only.

It follows the protocol's own examples, step by step, against a running
server and checks every answer's form:

  GET  /v2/health/live, /v2/health/ready      200
  GET  /v2                                     name, version, extensions
  GET  /v2/models/NAME                         one FP32 input [-1, ...], one FP32 output [-1, classes]
  GET  /v2/models/NAME/ready                   200
  POST /v2/models/NAME/infer                   a JSON FP32 tensor, flat, then nested as its shape:
                                               the id echoed, the output's name, datatype FP32,
                                               shape [n, classes], n*classes finite numbers,
                                               the same for both forms
  errors                                       an unknown model (404), a wrong shape and a
                                               wrong datatype (400): {"error": "..."} objects

The images are deterministic (--seed): values k/128 - 1, exact in float32.
With --out it writes {"inputs": [...], "outputs": [...], "checks": [...]}
(one flat list per image) to that new file, for a caller to compare with
the model's own outputs. Exit status 0 when every check passed, 1 with the
first failed check on stderr, 2 for bad arguments.

    python3 tools/oipclient/client.py --url http://127.0.0.1:8080 --model tinyv2 --images 2 --out result.json
"""

import argparse
import json
import math
import random
import sys

import requests


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def get(session, url, path, want=200):
    r = session.get(url + path, timeout=60)
    check(r.status_code == want, f"GET {path}: status {r.status_code}, want {want}: {r.text[:200]}")
    return r


def error_object(r, what):
    """The protocol's error object: {"error": "message"}."""
    try:
        body = r.json()
    except ValueError:
        raise CheckFailed(f"{what}: the body is not JSON: {r.text[:200]}")
    check(isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"],
          f"{what}: want an error object {{\"error\": \"...\"}}, got {body}")
    return body["error"]


def image(seed, i, per):
    """Image i: per values (k - 128)/128, exact in float32, k drawn from
    Python's Mersenne Twister seeded by (seed, i) within a band of 128 that
    moves with i, so that images differ in content and in brightness."""
    r = random.Random(seed * 1000003 + i)
    lo = (i * 37) % 129
    return [(lo + r.getrandbits(7) - 128) / 128 for _ in range(per)]


def nest(flat, shape):
    """flat (row-major) as nested lists of the given shape."""
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def infer(session, url, model, body, n, classes, out_name, what):
    r = session.post(f"{url}/v2/models/{model}/infer", json=body, timeout=300)
    check(r.status_code == 200, f"{what}: status {r.status_code}: {r.text[:300]}")
    check(r.headers.get("Content-Type", "").startswith("application/json"),
          f"{what}: Content-Type {r.headers.get('Content-Type')!r}")
    resp = r.json()
    check(resp.get("model_name") == model, f"{what}: model_name {resp.get('model_name')!r}, want {model!r}")
    check(resp.get("id") == body["id"], f"{what}: id {resp.get('id')!r}, want {body['id']!r}")
    outs = resp.get("outputs")
    check(isinstance(outs, list) and len(outs) == 1, f"{what}: want one output, got {outs!r:.200}")
    o = outs[0]
    check(o.get("name") == out_name, f"{what}: output name {o.get('name')!r}, want {out_name!r}")
    check(o.get("datatype") == "FP32", f"{what}: output datatype {o.get('datatype')!r}, want FP32")
    check(o.get("shape") == [n, classes], f"{what}: output shape {o.get('shape')}, want {[n, classes]}")
    data = o.get("data")
    check(isinstance(data, list) and len(data) == n * classes,
          f"{what}: output data of {len(data) if isinstance(data, list) else data!r} values, want {n * classes}")
    check(all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in data),
          f"{what}: output data holds a value that is not a finite number")
    return [float(v) for v in data]


def run(url, model, n, seed):
    checks = []
    s = requests.Session()

    # Health: the protocol's liveness and readiness.
    get(s, url, "/v2/health/live")
    get(s, url, "/v2/health/ready")
    checks.append("health")

    # Server metadata.
    meta = get(s, url, "/v2").json()
    check(isinstance(meta.get("name"), str) and isinstance(meta.get("version"), str)
          and isinstance(meta.get("extensions"), list), f"GET /v2: server metadata {meta}")
    checks.append("server metadata")

    # Model metadata and readiness.
    md = get(s, url, f"/v2/models/{model}").json()
    check(md.get("name") == model, f"model metadata: name {md.get('name')!r}, want {model!r}")
    check(isinstance(md.get("platform"), str), f"model metadata: platform {md.get('platform')!r}")
    ins, outs = md.get("inputs"), md.get("outputs")
    check(isinstance(ins, list) and len(ins) == 1 and isinstance(outs, list) and len(outs) == 1,
          f"model metadata: want one input and one output, got {ins} and {outs}")
    inp, out = ins[0], outs[0]
    check(inp.get("datatype") == "FP32" and out.get("datatype") == "FP32",
          f"model metadata: datatypes {inp.get('datatype')}, {out.get('datatype')}: want FP32")
    ishape, oshape = inp.get("shape"), out.get("shape")
    check(isinstance(ishape, list) and len(ishape) >= 2 and ishape[0] == -1 and all(d >= 1 for d in ishape[1:]),
          f"model metadata: input shape {ishape}: want [-1, ...]")
    check(isinstance(oshape, list) and len(oshape) == 2 and oshape[0] == -1 and oshape[1] >= 1,
          f"model metadata: output shape {oshape}: want [-1, classes]")
    get(s, url, f"/v2/models/{model}/ready")
    checks.append("model metadata")

    dims, classes = ishape[1:], oshape[1]
    per = math.prod(dims)
    images = [image(seed, i, per) for i in range(n)]
    flat = [v for img in images for v in img]
    shape = [n] + dims

    # Inference, as the protocol's example request: a flat data array…
    body = {"id": "oipclient-1",
            "inputs": [{"name": inp["name"], "shape": shape, "datatype": "FP32", "data": flat}],
            "outputs": [{"name": out["name"]}]}
    data = infer(s, url, model, body, n, classes, out["name"], "infer (flat data)")
    checks.append("infer flat")
    # …and the same tensor nested as its shape: the same answer.
    body = {"id": "oipclient-2",
            "inputs": [{"name": inp["name"], "shape": shape, "datatype": "FP32", "data": nest(flat, shape)}]}
    nested = infer(s, url, model, body, n, classes, out["name"], "infer (nested data)")
    check(nested == data, "infer: the nested request's outputs differ from the flat one's")
    checks.append("infer nested")

    # Errors: the protocol's error objects with their statuses.
    r = s.get(f"{url}/v2/models/{model}-unknown", timeout=60)
    check(r.status_code == 404, f"unknown model: status {r.status_code}, want 404")
    error_object(r, "unknown model")
    bad = {"inputs": [{"name": inp["name"], "shape": [n] + dims[:-1] + [dims[-1] + 1], "datatype": "FP32",
                       "data": [0.0] * (n * per // dims[-1] * (dims[-1] + 1))}]}
    r = s.post(f"{url}/v2/models/{model}/infer", json=bad, timeout=60)
    check(r.status_code == 400, f"wrong shape: status {r.status_code}, want 400")
    check("shape" in error_object(r, "wrong shape"), "wrong shape: the error does not name the shape")
    bad = {"inputs": [{"name": inp["name"], "shape": shape, "datatype": "INT32", "data": [0] * (n * per)}]}
    r = s.post(f"{url}/v2/models/{model}/infer", json=bad, timeout=60)
    check(r.status_code == 400, f"wrong datatype: status {r.status_code}, want 400")
    check("INT32" in error_object(r, "wrong datatype"), "wrong datatype: the error does not name it")
    checks.append("errors")

    outputs = [data[i * classes:(i + 1) * classes] for i in range(n)]
    return {"model": model, "shape": shape, "inputs": images, "outputs": outputs, "checks": checks}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="the server's base URL")
    p.add_argument("--model", required=True, help="the served model's name")
    p.add_argument("--images", type=int, default=2, help="images in the request (1-64)")
    p.add_argument("--seed", type=int, default=1, help="seeds the images")
    p.add_argument("--out", help="write the inputs and outputs as JSON to this new file")
    a = p.parse_args(argv)
    if not 1 <= a.images <= 64:
        p.error(f"--images {a.images}: want 1 to 64")
    try:
        result = run(a.url.rstrip("/"), a.model, a.images, a.seed)
    except CheckFailed as e:
        print(f"oipclient: FAILED: {e}", file=sys.stderr)
        return 1
    except requests.RequestException as e:
        print(f"oipclient: FAILED: {e}", file=sys.stderr)
        return 1
    if a.out:
        try:
            with open(a.out, "x") as f:  # a new file: never overwrite
                json.dump(result, f)
        except OSError as e:
            print(f"oipclient: --out: {e}", file=sys.stderr)
            return 2
    print(f"oipclient: {a.model}: {', '.join(result['checks'])}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
