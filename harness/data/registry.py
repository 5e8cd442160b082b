"""The seven paper datasets and two big public graphs beyond the paper (Wikidata5M, ogbl-wikikg2): their
published sizes and where their canonical public copies live.

Every download is checked against a pinned sha256 (`sha256` for an archive, `member_sha256` per raw file); where
none is pinned, `sptx datasets --download NAME` refuses unless given `--allow-unverified`, which downloads anyway and
prints the observed sha256. To pin one: download on a trusted network with `--allow-unverified` (or run
`sha256sum` on a copy you trust), check the files (`sptx datasets` shows whether the counts match the published
ones), and put the printed hash here. The hashes pinned so far were computed from files whose bytes are documented
as identical to the source (WN18 valid/test: the Bordes et al. files, see ../shared/datasets/README.md); archives
were never available offline, so their hashes cannot be known offline and are left None, as noted at each URL.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

from harness.errors import SptxError

__all__ = [
    "ArchiveLayout",
    "DatasetSpec",
    "REGISTRY",
    "SPLITS",
    "dataset_names",
    "get_spec",
    "find_spec",
    "count_mismatches",
    "describe_mismatches",
    "warn_on_count_mismatch",
]

SPLITS: tuple[str, str, str] = ("train", "valid", "test")

ArchiveLayout = Literal["archive", "raw", "ogb"]
"""How a download becomes `<NAME>/{train,valid,test}.txt`.

- "archive": `url` is a tar/zip holding one file per split, found by the path suffixes in `members`.
- "raw": `url` is a template with `{member}`; one plain-text file is fetched per split.
- "ogb": an OGB link-property zip as the `ogb` package writes it: `split/<split>/{train,valid,test}.pt` tensor
  dictionaries (`head`, `relation`, `tail`; ogbl-biokg adds `head_type` / `tail_type`, its ids being per type).
"""


@dataclass(frozen=True)
class DatasetSpec:
    """One benchmark dataset: its published counts (None where the paper gives none) and its download source.

    `sha256` checks the single archive (layout "archive"/"ogb"); `member_sha256` checks each raw file
    (layout "raw"). None means unknown: the download is then refused unless unverified downloads are allowed.
    """

    name: str
    n_entities: int
    n_relations: int
    n_train: int
    n_valid: int | None
    n_test: int | None
    url: str
    sha256: str | None
    archive_layout: ArchiveLayout
    members: tuple[str, str, str] = ("train.txt", "valid.txt", "test.txt")
    member_sha256: tuple[str | None, str | None, str | None] = (None, None, None)
    labelled_eval: bool = False
    citation: str = ""

    def expected_counts(self) -> dict[str, int | None]:
        """The published counts keyed by the field names used in mismatch warnings."""
        return {
            "n_entities": self.n_entities,
            "n_relations": self.n_relations,
            "n_train": self.n_train,
            "n_valid": self.n_valid,
            "n_test": self.n_test,
        }


_CONVE = "https://github.com/TimDettmers/ConvE/raw/master"
_KGE = "https://raw.githubusercontent.com/DeepGraphLearning/KnowledgeGraphEmbedding/master/data"

REGISTRY: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        name="FB15k",
        n_entities=14_951,
        n_relations=1_345,
        n_train=483_142,
        n_valid=50_000,
        n_test=59_071,
        url=f"{_KGE}/FB15k/{{member}}",  # member hashes cannot be known offline (no copy here)
        sha256=None,
        archive_layout="raw",
        citation="Bordes et al. 2013 (TransE)",
    ),
    DatasetSpec(
        name="FB15k-237",
        n_entities=14_541,
        n_relations=237,
        n_train=272_115,
        n_valid=17_535,
        n_test=20_466,
        url=f"{_CONVE}/FB15k-237.tar.gz",  # archive hash cannot be known offline (only its extracted files are here)
        sha256=None,
        archive_layout="archive",
        citation="Toutanova & Chen 2015",
    ),
    DatasetSpec(
        name="WN18",
        n_entities=40_943,
        n_relations=18,
        n_train=141_442,
        n_valid=5_000,
        n_test=5_000,
        url=f"{_KGE}/wn18/{{member}}",  # train.txt hash cannot be known offline (our copy is rebuilt from OpenKE ids)
        sha256=None,
        archive_layout="raw",
        member_sha256=(
            None,  # train.txt: cannot be known offline
            "13347bfb5e17d1cae003e0bfe29b4716d3ab748e8cfb6af997138d37da3a51dc",
            "d22c19d176d4ba6a6f0d0c6bfce39ab3c16e3b20e1df6f9efe0d9ed86542fa10",
        ),
        citation="Bordes et al. 2013 (TransE)",
    ),
    DatasetSpec(
        name="WN18RR",
        n_entities=40_943,
        n_relations=11,
        n_train=86_835,
        n_valid=3_034,
        n_test=3_134,
        url=f"{_CONVE}/WN18RR.tar.gz",  # archive hash cannot be known offline (only its extracted files are here)
        sha256=None,
        archive_layout="archive",
        citation="Dettmers et al. 2018 (ConvE)",
    ),
    DatasetSpec(
        name="FB13",
        n_entities=75_043,
        n_relations=13,
        n_train=316_232,
        n_valid=None,
        n_test=None,
        url="https://nlp.stanford.edu/~socherr/codeDeepDB.zip",  # archive hash cannot be known offline
        sha256=None,
        archive_layout="archive",
        members=("Freebase/train.txt", "Freebase/dev.txt", "Freebase/test.txt"),
        labelled_eval=True,
        citation="Socher et al. 2013 (NTN)",
    ),
    DatasetSpec(
        name="YAGO3-10",
        n_entities=123_182,
        n_relations=37,
        n_train=1_079_040,
        n_valid=5_000,
        n_test=5_000,
        url=f"{_CONVE}/YAGO3-10.tar.gz",  # archive hash cannot be known offline
        sha256=None,
        archive_layout="archive",
        citation="Mahdisoltani et al. 2015; split of Dettmers et al. 2018",
    ),
    DatasetSpec(
        name="BioKG",
        n_entities=93_773,
        n_relations=51,
        n_train=4_762_678,
        n_valid=None,
        n_test=None,
        url="http://snap.stanford.edu/ogb/data/linkproppred/biokg.zip",  # archive hash cannot be known offline
        sha256=None,
        archive_layout="ogb",
        members=("split/random/train.pt", "split/random/valid.pt", "split/random/test.pt"),
        citation="Hu et al. 2020 (OGB, ogbl-biokg)",
    ),
    DatasetSpec(
        name="Wikidata5M",
        n_entities=4_594_485,
        n_relations=822,
        n_train=20_614_279,
        n_valid=5_163,
        n_test=5_133,
        # the transductive split of the project's page (deepgraphlearning.github.io/project/wikidata5m); hash unknown offline
        url="https://www.dropbox.com/s/6sbhm0rwo4l73jq/wikidata5m_transductive.tar.gz?dl=1",
        sha256=None,
        archive_layout="archive",
        members=("wikidata5m_transductive_train.txt", "wikidata5m_transductive_valid.txt",
                 "wikidata5m_transductive_test.txt"),
        citation="Wang et al. 2021 (KEPLER, Wikidata5M transductive)",
    ),
    DatasetSpec(
        name="ogbl-wikikg2",
        n_entities=2_500_604,
        n_relations=535,
        n_train=16_109_182,
        n_valid=429_456,
        n_test=598_543,
        url="http://snap.stanford.edu/ogb/data/linkproppred/wikikg-v2.zip",  # archive hash cannot be known offline
        sha256=None,
        archive_layout="ogb",
        members=("split/time/train.pt", "split/time/valid.pt", "split/time/test.pt"),
        citation="Hu et al. 2020 (OGB, ogbl-wikikg2)",
    ),
)


def dataset_names() -> tuple[str, ...]:
    """The registry names in their canonical spelling, in paper order."""
    return tuple(spec.name for spec in REGISTRY)


def find_spec(name: str) -> DatasetSpec | None:
    """The spec whose name matches `name` case-insensitively, or None; for callers that try other sources next."""
    wanted = name.strip().casefold()
    return next((spec for spec in REGISTRY if spec.name.casefold() == wanted), None)


def get_spec(name: str) -> DatasetSpec:
    """The spec named `name` (case-insensitive); an unknown name is a user error listing the known ones."""
    spec = find_spec(name)
    if spec is None:
        raise SptxError(f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())}")
    return spec


def count_mismatches(spec: DatasetSpec, found: dict[str, int]) -> list[tuple[str, int, int]]:
    """(field, expected, found) for every published count that the loaded data does not reproduce."""
    expected = spec.expected_counts()
    return [
        (field, want, found[field])
        for field, want in expected.items()
        if want is not None and field in found and found[field] != want
    ]


def describe_mismatches(mismatches: list[tuple[str, int, int]]) -> str:
    """`n_train expected 141,442, found 1,000; ...`: the differing counts on one line."""
    return "; ".join(f"{field} expected {want:,}, found {got:,}" for field, want, got in mismatches)


def warn_on_count_mismatch(spec: DatasetSpec, found: dict[str, int], where: str = "") -> bool:
    """Warn (one line) when the files do not reproduce the published counts, so that results on a modified copy are
    never passed off as the paper's; returns whether they differ (the dataset is then of kind "modified")."""
    mismatches = count_mismatches(spec, found)
    if mismatches:
        suffix = f" (files in {where})" if where else ""
        warnings.warn(
            f"dataset {spec.name}: {describe_mismatches(mismatches)}{suffix}; "
            "it differs from the published dataset and is recorded as dataset_kind 'modified'",
            UserWarning,
            stacklevel=4,
        )
    return bool(mismatches)
