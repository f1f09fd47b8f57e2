#!/usr/bin/env python3
"""An independent implementation of store-format v1's serialization, written
from serialization.md, content-hash.md and daemon.md alone: it rebuilds every
tree vector's stream and archive from input.txt and checks serialization.bin,
archive.bin and digest.txt, and reads every daemon frame vector (and the
stamp, cache, plan, view and manifest-index vectors). File and
stream digests come from the `b3sum` tool, so no code is shared with rockstore.
Usage: check_vectors.py [vectors dir]. Exit 0 when every vector matches."""
import base64, json, pathlib, struct, subprocess, sys

def b3(data: bytes) -> bytes:
    out = subprocess.run(["b3sum", "--no-names", "--raw"], input=data, capture_output=True, check=True).stdout
    return out[:32]

def unescape(s: str) -> bytes:
    out, i, b = bytearray(), 0, s.encode()
    while i < len(b):
        if b[i:i+1] == b"\\" and i + 1 < len(b):
            c = b[i+1:i+2]
            if c == b"x":
                out.append(int(b[i+2:i+4], 16)); i += 4; continue
            out += {b"n": b"\n", b"t": b"\t", b"\\": b"\\"}[c]; i += 2
        else:
            out += b[i:i+1]; i += 1
    return bytes(out)

def tree_from_input(text: str) -> dict:
    root: dict = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("ref "):
            continue
        parts = line.split(" ", 2)
        kind, path, arg = parts[0], parts[1], unescape(parts[2]) if len(parts) > 2 else b""
        *dirs, leaf = path.split("/")
        node = root
        for d in dirs:
            node = node.setdefault(d.encode(), {})
        if kind == "dir":
            node.setdefault(leaf.encode(), {})
        elif kind in ("file", "exec"):
            node[leaf.encode()] = (kind, arg)
        elif kind == "link":
            node[leaf.encode()] = ("link", arg)
    return root

def u64(n: int) -> bytes:
    return struct.pack("<Q", n)

def serialize(node) -> bytes:
    if isinstance(node, dict):
        out = b"\x04" + u64(len(node))
        for name in sorted(node):           # bytewise order of UTF-8 names
            out += u64(len(name)) + name + serialize(node[name])
        return out
    kind, data = node
    if kind == "link":
        return b"\x03" + u64(len(data)) + data
    tag = b"\x02" if kind == "exec" else b"\x01"
    return tag + u64(len(data)) + b3(data)

def archive(node) -> bytes:
    """serialization.md's archive form: the stream with each file's bytes
    after its digest."""
    if isinstance(node, dict):
        out = b"\x04" + u64(len(node))
        for name in sorted(node):
            out += u64(len(name)) + name + archive(node[name])
        return out
    kind, data = node
    if kind == "link":
        return b"\x03" + u64(len(data)) + data
    tag = b"\x02" if kind == "exec" else b"\x01"
    return tag + u64(len(data)) + b3(data) + data

def check_frames(base: pathlib.Path) -> int:
    """daemon.md's frames: a 12-byte prefix (u32 header length, u64 payload
    length), then the JSON header."""
    failures = 0
    for case in sorted((base / "daemon").glob("*.json")):
        vector = json.loads(case.read_text())
        raw = case.with_suffix(".bin").read_bytes()
        hlen, plen = struct.unpack("<IQ", raw[:12])
        ok = (len(raw) == 12 + hlen and plen == vector["payload_len"]
              and json.loads(raw[12:]) == vector["frame"])
        print(f"{'ok  ' if ok else 'FAIL'} daemon/{case.stem}")
        failures += not ok
    return failures

def check_cache(base: pathlib.Path) -> tuple[int, int]:
    """cache.md: the fingerprint re-derived from the JSON, the Ed25519
    signature checked and re-made with openssl, the blob decompressed with
    zstd to the tree vector's archive, whose hash names it."""
    import tempfile
    failures = total = 0
    for case in sorted((base / "cache").iterdir()):
        total += 1
        doc = json.loads((case / "realisation.json").read_text())
        fields = ["rockstore-realisation-1", doc["recipe_key"], doc["item"], doc["hash"],
                  str(doc["size"]), str(doc["blob_size"]), doc["rock"], doc["lua_abi"], doc["platform"]]
        fingerprint = b"".join(u64(len(f.encode())) + f.encode() for f in fields)
        ok = fingerprint == (case / "fingerprint.bin").read_bytes()
        name, signature = doc["signature"].split(":", 1)
        pname, public = (case / "public.txt").read_text().strip().split(":", 1)
        sname, secret = (case / "secret.txt").read_text().strip().split(":", 1)
        public, secret, signature = (base64.b64decode(x) for x in (public, secret, signature))
        ok = ok and name == pname == sname and secret[32:] == public and len(signature) == 64
        with tempfile.TemporaryDirectory() as tmp:
            t = pathlib.Path(tmp)
            (t / "fp").write_bytes(fingerprint)
            (t / "sig").write_bytes(signature)
            # RFC 8410 DER: SubjectPublicKeyInfo and PKCS#8 for Ed25519.
            (t / "pub.der").write_bytes(bytes.fromhex("302a300506032b6570032100") + public)
            (t / "key.der").write_bytes(bytes.fromhex("302e020100300506032b657004220420") + secret[:32])
            verify = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                                     "-inkey", t / "pub.der", "-rawin", "-in", t / "fp",
                                     "-sigfile", t / "sig"], capture_output=True)
            ok = ok and verify.returncode == 0
            resign = subprocess.run(["openssl", "pkeyutl", "-sign", "-keyform", "DER",
                                     "-inkey", t / "key.der", "-rawin", "-in", t / "fp"],
                                    capture_output=True)
            ok = ok and resign.returncode == 0 and resign.stdout == signature
        blob = subprocess.run(["zstd", "-d", "-c", case / "blob.zst"], capture_output=True, check=True).stdout
        tree = base / "tree" / "006-nested-sorted"
        digest = (tree / "digest.txt").read_text().splitlines()[0].removeprefix("blake3:")
        ok = (ok and blob == (tree / "archive.bin").read_bytes() and doc["hash"] == f"blake3:{digest}"
              and (case / "blob-path.txt").read_text() == f"blob/{digest[:2]}/{digest}.zst\n"
              and doc["blob_size"] == len((case / "blob.zst").read_bytes()))
        print(f"{'ok  ' if ok else 'FAIL'} cache/{case.name}")
        failures += not ok
    return total, failures

def check_stamps(base: pathlib.Path) -> tuple[int, int]:
    """stamps.md: per entry sorted by path bytes, the path, NUL, then ino
    u64, mode u32, size u64, mtime i64, mtime_nsec i64 (little-endian)."""
    total = failures = 0
    for case in sorted((base / "stamps").iterdir()):
        stamps = json.loads((case / "input.json").read_text())
        data = b"".join(
            s["path"].encode() + b"\0" + struct.pack("<QIQqq", s["ino"], s["mode"], s["size"], s["mtime"], s["mtime_nsec"])
            for s in sorted(stamps, key=lambda s: s["path"].encode()))
        paths = sorted((s["path"].encode() for s in stamps if s["path"]))
        ok = (f"rockstore-stamps-1 {b3(data).hex()}\n" == (case / "stamps-v1").read_text()
              and f"rockstore-stamps-2 {b3(data).hex()}\n".encode() + b"".join(p + b"\0" for p in paths)
              == (case / "stamps").read_bytes())
        print(f"{'ok  ' if ok else 'FAIL'} stamps/{case.name}")
        total += 1
        failures += not ok
    return total, failures

def check_plans(base: pathlib.Path) -> tuple[int, int]:
    """cache.md, plan documents: the plan key re-derived from its preimage
    (blake3 via b3), the fingerprint re-derived from the JSON, and the
    Ed25519 signature verified with openssl."""
    import tempfile
    failures = total = 0
    plans = base / "plan"
    if not plans.is_dir():
        return 0, 0
    field = lambda f: u64(len(f.encode())) + f.encode()
    for case in sorted(plans.iterdir()):
        total += 1
        doc = json.loads((case / "plan.json").read_text())
        pre = [l.split(" ", 1) for l in (case / "plan-key.txt").read_text().splitlines()]
        get = lambda k: [v for (n, v) in pre if n == k]
        rocks, known = get("rock"), get("known")
        key_stream = b"".join(field(f) for f in ["rockstore-plan-1", get("lua_abi")[0], get("platform")[0],
                                                 str(len(rocks)), *rocks, str(len(known)), *known])
        ok = b3(key_stream).hex() == get("key")[0] == doc["plan_key"]
        fields = ["rockstore-plan-1", doc["plan_key"], doc["lua_abi"], doc["platform"], str(len(doc["entries"]))]
        for e in doc["entries"]:
            fields += [e["rock"], e["recipe_key"], e["item"], e["hash"]]
        fingerprint = b"".join(field(f) for f in fields)
        ok = ok and fingerprint == (case / "fingerprint.bin").read_bytes()
        name, signature = doc["signature"].split(":", 1)
        pname, public = (case / "public.txt").read_text().strip().split(":", 1)
        public, signature = base64.b64decode(public), base64.b64decode(signature)
        with tempfile.TemporaryDirectory() as tmp:
            t = pathlib.Path(tmp)
            (t / "fp").write_bytes(fingerprint)
            (t / "sig").write_bytes(signature)
            (t / "pub.der").write_bytes(bytes.fromhex("302a300506032b6570032100") + public)
            verify = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                                     "-inkey", t / "pub.der", "-rawin", "-in", t / "fp",
                                     "-sigfile", t / "sig"], capture_output=True)
            ok = ok and name == pname and verify.returncode == 0
        print(f"{'ok  ' if ok else 'FAIL'} plan/{case.name}")
        failures += not ok
    return total, failures

def check_views(base: pathlib.Path) -> tuple[int, int]:
    """cache.md, the LuaRocks view: a rock attestation's hashes re-derived
    from the rock and rockspec bytes (b3), its fingerprint from the JSON,
    and its Ed25519 signature verified with openssl."""
    import tempfile
    failures = total = 0
    views = base / "view"
    if not views.is_dir():
        return 0, 0
    field = lambda f: u64(len(f.encode())) + f.encode()
    for case in sorted(views.iterdir()):
        total += 1
        doc = json.loads((case / "attestation.json").read_text())
        rock, spec = (case / "rock.bin").read_bytes(), (case / "rockspec").read_bytes()
        ok = (doc["hash"] == f"blake3:{b3(rock).hex()}" and doc["size"] == len(rock)
              and doc["rockspec_hash"] == f"blake3:{b3(spec).hex()}")
        fields = ["rockstore-view-rock-1", doc["file"], str(doc["size"]), doc["hash"], doc["rockspec_hash"],
                  doc["item"], doc["recipe_key"], doc["lua_abi"], doc["platform"]]
        fingerprint = b"".join(field(f) for f in fields)
        ok = ok and fingerprint == (case / "fingerprint.bin").read_bytes()
        name, signature = doc["signature"].split(":", 1)
        pname, public = (case / "public.txt").read_text().strip().split(":", 1)
        public, signature = base64.b64decode(public), base64.b64decode(signature)
        with tempfile.TemporaryDirectory() as tmp:
            t = pathlib.Path(tmp)
            (t / "fp").write_bytes(fingerprint)
            (t / "sig").write_bytes(signature)
            (t / "pub.der").write_bytes(bytes.fromhex("302a300506032b6570032100") + public)
            verify = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                                     "-inkey", t / "pub.der", "-rawin", "-in", t / "fp",
                                     "-sigfile", t / "sig"], capture_output=True)
            ok = ok and name == pname and verify.returncode == 0
        print(f"{'ok  ' if ok else 'FAIL'} view/{case.name}")
        failures += not ok
    return total, failures

def check_manifest_indexes(base: pathlib.Path) -> tuple[int, int]:
    """manifest-index.md, format 2: each NAME.json lists what the manifest
    NAME.lua lists (tests/it/warm.rs checks the two agree); the index is
    rebuilt from the JSON and the .lua's blake3 and compared with NAME.index,
    then the name table is walked to read one rock's block by name alone."""
    failures = total = 0
    folder = base / "manifest-index"
    if not folder.is_dir():
        return 0, 0
    u32 = lambda n: struct.pack("<I", n)
    string = lambda b: u32(len(b)) + b
    for case in sorted(folder.glob("*.json")):
        total += 1
        repo = json.loads(case.read_text())["repository"]
        # Keys in bytewise order of their UTF-8, as the parsed manifest holds them.
        ordered = lambda d: sorted(d.items(), key=lambda kv: kv[0].encode())
        rocks = [(name.encode(), [(v.encode(), [e["arch"].encode() for e in entries])
                                  for v, entries in ordered(versions)])
                 for name, versions in ordered(repo)]
        arches: list[bytes] = []
        for _, versions in rocks:
            for _, archs in versions:
                for a in archs:
                    if a not in arches:
                        arches.append(a)
        table = pool = blocks = b""
        for name, versions in rocks:
            table += u32(len(pool)) + u32(len(name)) + u32(len(blocks))
            pool += name
            blocks += u32(len(versions))
            for v, archs in versions:
                blocks += string(v) + u32(len(archs)) + b"".join(u32(arches.index(a)) for a in archs)
        manifest = case.with_suffix(".lua").read_bytes()
        body = (b"RSMIDX\x00\x02" + b3(manifest) + u32(len(arches)) + b"".join(string(a) for a in arches)
                + u32(len(rocks)) + table + u32(len(pool)) + pool + u32(len(blocks)) + blocks)
        expected = body + b3(body)
        got = case.with_suffix(".index").read_bytes()
        ok = got == expected
        if ok and rocks:
            # By name: the table's entry for the last rock, then its block alone.
            at = 8 + 32 + 4 + sum(4 + len(a) for a in arches) + 4
            start, length, block = struct.unpack_from("<III", got, at + 12 * (len(rocks) - 1))
            pool_at = at + 12 * len(rocks) + 4
            blocks_at = pool_at + len(pool) + 4
            name = got[pool_at + start:pool_at + start + length]
            count = struct.unpack_from("<I", got, blocks_at + block)[0]
            ok = name == rocks[-1][0] and count == len(rocks[-1][1])
        print(f"{'ok  ' if ok else 'FAIL'} manifest-index/{case.stem}")
        failures += not ok
    return total, failures

def main() -> int:
    base = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "v1/vectors")
    failures = 0
    cases = sorted((base / "tree").iterdir())
    for case in cases:
        stream = b"rockstore:tree:1" + serialize(tree_from_input((case / "input.txt").read_text()))
        digest = b3(stream)
        short = base64.b32encode(digest[:20]).decode().lower()
        expected = f"blake3:{digest.hex()}\nshort: {short}\n"
        tree = tree_from_input((case / "input.txt").read_text())
        arch = b"rockstore:nar:1\n" + archive(tree)
        ok = (stream == (case / "serialization.bin").read_bytes()
              and expected == (case / "digest.txt").read_text()
              and arch == (case / "archive.bin").read_bytes())
        print(f"{'ok  ' if ok else 'FAIL'} {case.name}")
        failures += not ok
    frames = check_frames(base)
    total = len(cases) + len(list((base / "daemon").glob("*.json")))
    failures += frames
    stamps_total, stamps_failures = check_stamps(base)
    total += stamps_total
    failures += stamps_failures
    cache_total, cache_failures = check_cache(base)
    total += cache_total
    failures += cache_failures
    plan_total, plan_failures = check_plans(base)
    total += plan_total
    failures += plan_failures
    view_total, view_failures = check_views(base)
    total += view_total
    failures += view_failures
    index_total, index_failures = check_manifest_indexes(base)
    total += index_total
    failures += index_failures
    print(f"{total - failures} passed, {failures} failed")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
