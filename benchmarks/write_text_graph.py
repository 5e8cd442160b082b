"""Write a seeded synthetic graph as a text dataset folder ({train,valid,test}.txt, tab-separated labels
Q<id> / P<id>), to measure loading a big text graph the way a user's files load (issue 19's first-load target).

    python benchmarks/write_text_graph.py synthetic:entities=4600000,relations=822,triples=20600000 /tmp/big20m
    rm -rf /tmp/cache20m && SPTX_CACHE_DIR=/tmp/cache20m sptx compare --dataset /tmp/big20m --frameworks sparse \\
      --optimizer adagrad-rowwise --sampler uniform --steps 2 --warmup 1 --rounds 1 --no-flops --no-memory \\
      --memory-limit-mb 12000 --out reports/scale-synthetic/scale.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from harness.data.synthetic import generate_synthetic


def write_text_graph(name: str, folder: Path, seed: int) -> None:
    """The synthetic graph `name` as the README's folder layout under `folder`."""
    dataset = generate_synthetic(name, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        ids = getattr(dataset, split).numpy()
        frame = pd.DataFrame({"h": "Q" + pd.Series(ids[:, 0]).astype(str), "r": "P" + pd.Series(ids[:, 1]).astype(str),
                              "t": "Q" + pd.Series(ids[:, 2]).astype(str)})
        frame.to_csv(folder / f"{split}.txt", sep="\t", header=False, index=False)
        print(f"{split}: {len(ids):,} triples -> {folder / f'{split}.txt'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="synthetic:entities=...,relations=...,triples=...")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    write_text_graph(args.name, args.folder, args.seed)
