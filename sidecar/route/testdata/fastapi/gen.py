"""Regenerates the FastAPI fixtures of sidecar/route and sidecar/validation.

Run with Debian 12's python3-fastapi (0.92, pydantic 1.10):

    /usr/bin/python3 sidecar/route/testdata/fastapi/gen.py
"""
import json, os, sys, threading, time, urllib.request, urllib.error
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import uvicorn
from app import make_app
out = os.path.normpath(os.path.join(here, "..", "..", ".."))  # sidecar/
def serve(app, port):
    cfg = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    s = uvicorn.Server(cfg)
    t = threading.Thread(target=s.run, daemon=True); t.start()
    while not s.started: time.sleep(0.05)
    return s
def req(port, method, path, body=None, ctype=None):
    r = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method=method.upper())
    if ctype: r.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(r) as resp: return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e: return e.code, e.read().decode()
s1 = serve(make_app(), 38911)
s2 = serve(make_app(root_path="/api"), 38912)
st, txt = req(38911, "get", "/openapi.json"); open(out+"/route/testdata/fastapi-0.92-openapi.json","w").write(txt)
st, txt = req(38912, "get", "/openapi.json"); open(out+"/route/testdata/fastapi-0.92-root-path-openapi.json","w").write(txt)
J = "application/json"
bodies = {
 "v1-missing-and-type": ("post", "/items/", json.dumps({"name": "a", "price": "x"}).encode(), J),
 "v1-nested-index": ("post", "/users/123e4567-e89b-12d3-a456-426614174000/orders", json.dumps({"items": [{"name": "a", "price": 1}, {"name": "b", "price": -1}], "note": "a"*30, "quantities": {"sku-1": "many"}}).encode(), J),
 "v1-path-params": ("get", "/users/nope/orders/x", None, None),
 "v1-query": ("get", "/items/?limit=1000&skip=x", None, None),
 "v1-body-missing": ("post", "/items/", None, None),
 "v1-json-invalid": ("post", "/items/", b'{"name": ', J),
 "v1-form-missing": ("post", "/token", b"username=u", "application/x-www-form-urlencoded"),
 "string-detail": ("post", "/checkout", None, None),
}
for name,(m,p,b,ct) in bodies.items():
    st, txt = req(38911, m, p, b, ct)
    assert st == 422, (name, st, txt)
    open(out+"/validation/testdata/"+name+".json","w").write(txt)
    print(name, txt)
s1.should_exit = True; s2.should_exit = True
time.sleep(0.3)
