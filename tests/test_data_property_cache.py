"""data/property_cache.py: the feature cache reads back what it wrote, keyed by content and parameters."""

import numpy as np

from xtalkit.data.property_cache import (
    FeatureCache,
    GraphFeaturizer,
    SitenetFeaturizer,
    cache_key,
)
from xtalkit.data.tables import (
    load_table,
    structure_to_crystal,
)


def test_feature_cache_second_run_reads_disk(binaries_csv, tmp_path):
    t = load_table(binaries_csv, "formation_energy_per_atom")
    sources = [*t.structures[:6], t.structures[-1]]  # the last one cannot be read
    for featurizer in (GraphFeaturizer(cutoff=4.0), SitenetFeaturizer(max_atoms=16)):
        first = FeatureCache(tmp_path / "cache")
        a = first.featurize(sources, featurizer, in_memory=True)
        assert (first.hits, first.misses) == (0, 7)
        files = sorted((tmp_path / "cache" / featurizer.name).rglob("*.*"))
        assert len(files) == 7 and sum(f.suffix == ".err" for f in files) == 1
        mtimes = [f.stat().st_mtime_ns for f in files]
        second = FeatureCache(tmp_path / "cache")
        b = second.featurize(sources, featurizer, in_memory=True)
        assert (second.hits, second.misses) == (7, 0)
        assert [f.stat().st_mtime_ns for f in files] == mtimes  # nothing rewritten
        assert str(a[-1]) == str(b[-1]) and "_cell_length_b" in str(b[-1])
        fresh = featurizer(structure_to_crystal(sources[2]))
        for x, z in zip(a[:6], b[:6], strict=True):
            assert x.keys() == z.keys()
            for k in x:
                np.testing.assert_array_equal(x[k], z[k])
        for k in fresh:
            np.testing.assert_array_equal(fresh[k], b[2][k])
            assert fresh[k].dtype == b[2][k].dtype
        paths = second.featurize(sources[:2], featurizer)  # lazily read files by default
        assert all(p.suffix == ".npz" and p.is_file() for p in paths)
    # the key follows content and parameters: a CIF file with the same text shares it, a new cutoff does not
    cif_file = tmp_path / "same.cif"
    cif_file.write_text(t.structures[0])
    assert cache_key(cif_file, GraphFeaturizer()) == cache_key(t.structures[0], GraphFeaturizer())
    assert cache_key(t.structures[0], GraphFeaturizer(cutoff=4.0)) != cache_key(
        t.structures[0], GraphFeaturizer()
    )
    assert cache_key(t.structures[0], GraphFeaturizer()) != cache_key(t.structures[1], GraphFeaturizer())
