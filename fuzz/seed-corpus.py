#!/usr/bin/env python3
"""Seeds the corpora of the fuzz targets added with the test kit from the recorded
transcripts of real servers (../../shared/transcripts, beside the repository checkout).

Run from anywhere: `python3 fuzz/seed-corpus.py`. Existing files are kept; a seed is named
by the SHA-1 of its bytes, as libFuzzer names the inputs it keeps.
"""
import glob
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
TRANSCRIPTS = os.path.join(HERE, "..", "..", "shared", "transcripts")
MAX_LEN = 65536


def connections():
    """(label, [r2m chunks], [m2r chunks]) per proxied connection of every transcript."""
    for path in sorted(glob.glob(os.path.join(TRANSCRIPTS, "*", "*.jsonl"))):
        conns = {}
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if "dir" not in rec:
                    continue
                conn = conns.setdefault(rec["conn"], ([], []))
                data = bytes.fromhex(rec["hex"])
                (conn[0] if rec["dir"] == "r2m" else conn[1]).append(data)
        for conn_id, (r2m, m2r) in sorted(conns.items()):
            yield f"{os.path.basename(path)}#{conn_id}", r2m, m2r


def write(target, data):
    data = data[:MAX_LEN]
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    count = {"master_input": 0, "chunking": 0, "pair": 0}
    for label, r2m, m2r in connections():
        upstream = b"".join(r2m)
        downstream = b"".join(m2r)
        if upstream:
            # mode byte: bit 0 diskless, bit 1 auth required, bits 2.. chunk size.
            for mode in (0x00 | 0xfc, 0x01 | (7 << 2), 0x03 | (63 << 2)):
                write("master_input", bytes([mode]) + upstream)
                count["master_input"] += 1
        if downstream:
            # mode byte: bit 0 resume, bits 1.. cut count; then the cut points (the real
            # segment lengths, as deltas), then the master's bytes.
            cuts = [min(len(c), 255) for c in m2r[:15]]
            resumed = any(b"PSYNC" in c and b"PSYNC\r\n$1\r\n?" not in c for c in r2m)
            mode = (len(cuts) << 1) | int(resumed)
            write("chunking", bytes([mode]) + bytes(cuts) + downstream)
            count["chunking"] += 1
        # Scenarios are decoded from arbitrary bytes: real traffic makes varied ones.
        for piece in (downstream[:512], upstream[:512], downstream[-512:]):
            if len(piece) > 16:
                write("pair", piece)
                count["pair"] += 1
    for target, n in count.items():
        print(f"{target}: {n} seeds written")


if __name__ == "__main__":
    main()
