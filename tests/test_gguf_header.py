"""The GGUF header reader against the gguf library's full reader (the reference)."""

import numpy as np
import pytest

from ragtune.gguf_header import GGUFHeaderError, gguf_metadata


def _reference(path):
    import gguf

    fields = gguf.GGUFReader(str(path)).fields
    return {k: f.contents() for k, f in fields.items() if not k.startswith("GGUF.")}


def test_every_field_of_the_bundled_model_equals_the_gguf_readers():
    from ragtune.registry import resolve

    path = resolve("smollm2-135m-instruct").local_path
    ours, ref = gguf_metadata(path), _reference(path)
    assert ours.keys() == ref.keys() and len(ref) > 20
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v) if isinstance(v, float) else ours[k] == v, k
    assert len(ours["tokenizer.ggml.tokens"]) > 40_000  # the arrays are read, not only skipped
    some = gguf_metadata(path, {"general.architecture", "llama.block_count", "no.such.key"})
    assert some == {"general.architecture": "llama", "llama.block_count": ref["llama.block_count"]}


@pytest.mark.parametrize("endian", ["LITTLE", "BIG"])
def test_each_value_type_reads_back_in_either_byte_order(tmp_path, endian):
    import gguf

    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama", endianess=getattr(gguf.GGUFEndian, endian))
    w.add_uint8("t.u8", 250)
    w.add_int16("t.i16", -300)
    w.add_uint32("t.u32", 4_000_000_000)
    w.add_int64("t.i64", -(2**40))
    w.add_float32("t.f32", 0.25)
    w.add_float64("t.f64", 1e-300)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo")
    w.add_array("t.ints", [1, 2, 3])
    w.add_array("t.strs", ["a", "", "ü"])
    w.add_uint32("t.after", 7)  # found after skipping every type above
    w.add_tensor("x", np.zeros((2, 2), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    got = gguf_metadata(path)
    assert got == {**_reference(path), "t.f32": 0.25}
    assert got["t.strs"] == ["a", "", "ü"] and got["t.i64"] == -(2**40) and got["t.bool"] is True
    assert gguf_metadata(path, {"t.after"}) == {"t.after": 7}


def test_a_file_that_is_not_gguf_says_so(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04" + bytes(64))
    with pytest.raises(GGUFHeaderError, match="not a GGUF file"):
        gguf_metadata(path)
