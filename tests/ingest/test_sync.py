"""Incremental sync through a real knowledge base: add, change, delete, unchanged, bad files, interrupts."""

import shutil

import pytest

from ragtune.errors import KnowledgeBaseError
from ragtune.kb import KnowledgeBase, list_kbs


def test_add_unchanged_change_delete_cycle(settings, corpus_dir):
    kb = KnowledgeBase.create(settings, "kb1")
    r1 = kb.ingest([corpus_dir])
    assert len(r1.added) == 12 and not r1.failed and r1.version == 1
    n_chunks = kb.store.count()
    assert n_chunks >= 12

    r2 = kb.ingest([corpus_dir])  # same folder again: nothing changes, no new version
    assert len(r2.unchanged) == 12 and not r2.changed and r2.version == 1 and kb.store.count() == n_chunks

    f = sorted(corpus_dir.iterdir())[0]
    f.write_text("The moon base Zephyr-9 was founded by Captain Ilse Marrow in 2091.\n")
    r3 = kb.ingest([corpus_dir])
    assert r3.updated == [str(f.resolve())] and len(r3.unchanged) == 11 and r3.version == 2
    hit = kb.search("Who founded the moon base Zephyr-9?", k=1)[0]
    assert "Ilse Marrow" in hit.chunk.text  # the update is visible to the very next query
    old = kb.search("Who founded the moon base Zephyr-9?", k=3, as_of=1)
    assert all("Ilse Marrow" not in h.chunk.text for h in old)  # the earlier version is unchanged

    f.unlink()
    r4 = kb.ingest([corpus_dir])  # without --sync a vanished file stays
    assert not r4.removed and r4.version == 2
    r5 = kb.ingest([corpus_dir], sync=True)
    assert r5.removed == [str(f.resolve())] and r5.version == 3
    assert str(f.resolve()) not in kb.store.sources()


def test_delete_source_makes_a_version(settings, corpus_dir):
    kb = KnowledgeBase.create(settings, "kb2")
    kb.ingest([corpus_dir])
    victim = sorted(corpus_dir.iterdir())[3]
    rep = kb.delete_source(victim)
    assert rep.version == 2 and rep.chunks_removed >= 1
    assert str(victim.resolve()) not in kb.store.sources()
    assert str(victim.resolve()) in kb.store.sources(version=1)
    with pytest.raises(KnowledgeBaseError, match="is not in knowledge base"):
        kb.delete_source(victim)


def test_bad_files_are_reported_and_skipped_and_good_ones_go_in(settings, corpus_dir):
    (corpus_dir / "empty.txt").write_text("   \n")
    (corpus_dir / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    (corpus_dir / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    kb = KnowledgeBase.create(settings, "kb3")
    rep = kb.ingest([corpus_dir])
    assert len(rep.added) == 12
    failed = {s.rsplit("/", 1)[-1]: e for s, e in rep.failed}
    assert set(failed) == {"empty.txt", "binary.txt", "latin1.txt", "broken.pdf"}
    assert all("\n" not in e for e in failed.values())


def test_failure_during_store_write_keeps_previous_version(settings, corpus_dir, monkeypatch):
    kb = KnowledgeBase.create(settings, "kb4")
    kb.ingest([corpus_dir])
    before = (kb.store.version(), kb.store.count(), kb.store.sources())
    for f in corpus_dir.iterdir():
        f.write_text(f.read_text() + "\nAn extra sentence about turnips.\n")

    def boom(*a, **k):
        raise KeyboardInterrupt  # Ctrl-C in the middle of the write

    monkeypatch.setattr(kb.store, "add", boom)
    with pytest.raises(KeyboardInterrupt):
        kb.ingest([corpus_dir])
    monkeypatch.undo()
    assert (kb.store.version(), kb.store.count(), kb.store.sources()) == before
    rep = kb.ingest([corpus_dir])  # and the next ingest works
    assert len(rep.updated) == 12


def test_kb_lifecycle_and_names(settings):
    KnowledgeBase.create(settings, "alpha", "first")
    KnowledgeBase.create(settings, "beta")
    assert list_kbs(settings) == ["alpha", "beta"]
    with pytest.raises(KnowledgeBaseError, match="already exists"):
        KnowledgeBase.create(settings, "alpha")
    with pytest.raises(KnowledgeBaseError, match="invalid knowledge base name"):
        KnowledgeBase.create(settings, "../escape")
    KnowledgeBase.delete(settings, "alpha")
    assert list_kbs(settings) == ["beta"]
    with pytest.raises(KnowledgeBaseError, match="no knowledge base 'alpha'"):
        KnowledgeBase.open(settings, "alpha")


def test_missing_path_is_a_clear_error(settings, tmp_path):
    kb = KnowledgeBase.create(settings, "kb5")
    with pytest.raises(Exception, match="no such file or folder"):
        kb.ingest([tmp_path / "does-not-exist"])
    shutil.rmtree(tmp_path / "data")
