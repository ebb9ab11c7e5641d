#!/usr/bin/env python3
"""vs-llama.py - ./bench beside llama.cpp (../shared/llref's cbench), interleaved.

Each round runs ./bench once (every --pp size and the tg row, -o json) and
then cbench once per prompt size, on the same model file, threads and
prompt length, so the two programs see the same machine state in turn.
Prints one markdown table: per row our median over rounds, the floor and
% of floor ./bench computed from the stored roofline, llama.cpp's median,
and our speedup with its range over rounds (each round's own ratio).

    tools/vs-llama.py --model models/default-gemma-q8_0.gguf [--config C]
        [--threads 2] [--pp 7,128,512] [--gen 16] [--rounds 3] [--reps 5]
        [--llref DIR]

The prompt for a pp N row is "Hello world" repeated (plus "Hello" for
an even N), checked with ./infer --tokenize to be exactly N tokens with
BOS; the tokenizer reproduces llama.cpp's on the fixtures.  Needs
../shared/llref/setup.sh to have been run (it prints DIR).  That cbench
makes a context of 256 tokens; for pp512 build its cbench.c with n_ctx
1024 and n_batch/n_ubatch 512 (and toks[1024]) into a folder of its own,
beside a node_modules link to DIR's, and pass that folder as --llref.
Not a test: a measurement tool for the closing notes of the prefill
work."""
import argparse
import json
import os
import statistics
import subprocess
import sys


def die(msg):
    print(f"vs-llama: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        die(f"{' '.join(cmd[:3])} ...: exit {p.returncode}: "
            f"{p.stderr.strip().splitlines()[-1:]}")
    return p.stdout


def prompt_of(model, n):
    """Text that ./infer tokenizes to exactly n tokens (BOS included)."""
    k, extra = (n - 1) // 2, (n - 1) % 2
    text = " ".join(["Hello world"] * k + (["Hello"] if extra else []))
    got = len(run(["./infer", "--model", model, "--tokenize", "-p", text]).split())
    if got != n:
        die(f"the prompt for {n} tokens tokenizes to {got}")
    return text


def cbench(llref, model, text, threads, reps, gen):
    bins = os.path.join(llref, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64")
    out = run([os.path.join(llref, "cbench"), bins, model, text, str(threads),
               str(reps), str(gen), "attach"])
    last = out.strip().splitlines()[-1]
    kv = dict(f.split("=", 1) for f in last.split() if "=" in f)
    return float(kv["pp_ms"]), float(kv["tg_ms_per_tok"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--config")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pp", default="7,128,512")
    ap.add_argument("--gen", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--budget", type=int, default=5)
    ap.add_argument("--llref", default=os.path.expanduser("~/.cache/q8tune-llref"))
    a = ap.parse_args()
    pps = [int(x) for x in a.pp.split(",")]
    texts = {n: prompt_of(a.model, n) for n in pps}
    ours, theirs, floors = {}, {}, {}
    for r in range(a.rounds):
        cmd = ["./bench", "--model", a.model, "--pp", a.pp, "--gen", str(a.gen),
               "--threads", str(a.threads), "--reps", str(a.reps),
               "--budget", str(a.budget), "-o", "json", "--no-record"]
        if a.config:
            cmd += ["--config", a.config]
        rec = json.loads(run(cmd))
        for row in rec["rows"]:
            name = "tg" if row["kind"] == "tg" else row["test"]
            # tg rows are in ms/token already, their floor too
            ours.setdefault(name, []).append(row["stats"]["median"])
            if row.get("floor_ms"):
                floors[name] = row["floor_ms"]
        for i, n in enumerate(pps):
            pp, tg = cbench(a.llref, a.model, texts[n], a.threads, a.reps,
                            a.gen if i == 0 else 1)
            theirs.setdefault(f"pp{n}", []).append(pp)
            if i == 0:
                theirs.setdefault("tg", []).append(tg)
        print(f"vs-llama: round {r + 1}/{a.rounds} done", file=sys.stderr)
    print(f"model {a.model}, {a.threads} threads, {a.rounds} rounds "
          f"(ours then llama.cpp, per round), medians of {a.reps}+ samples; "
          f"tg: ms per token after the pp{pps[0]} prompt\n")
    print("| row | ours ms (range over rounds) | floor ms | % of floor | "
          "llama.cpp ms (range) | speedup (range of per-round ratios) |")
    print("|---|---|---|---|---|---|")
    for name in ["tg"] + [f"pp{n}" for n in pps]:
        o, t = ours.get(name), theirs.get(name)
        if not o or not t:
            continue
        om, tm = statistics.median(o), statistics.median(t)
        fl = floors.get(name)
        ratios = [y / x for x, y in zip(o, t)]
        print(f"| {name} | {om:.2f} ({min(o):.2f}-{max(o):.2f}) | "
              f"{fl:.2f} | {100 * fl / om:.0f}% | " if fl else
              f"| {name} | {om:.2f} ({min(o):.2f}-{max(o):.2f}) | - | - | ",
              end="")
        print(f"{tm:.2f} ({min(t):.2f}-{max(t):.2f}) | "
              f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
