#!/usr/bin/env python3
"""make-seeds.py OUT_DIR SHARED_DIR — writes the fuzzers' seed corpora, OUT_DIR/<harness>/*.

Seeds are small valid inputs (plus a few near misses), made here or cut from the reference files in
SHARED_DIR (the golden tiny model's config, the BPE vocabulary, the test strings and images), so
that nothing large or copyrighted is kept in the repository.  Python's standard library only;
Pillow, when installed, adds GIF, BMP, TIFF, CMYK JPEG and 16-bit PNG image seeds.
"""
import gzip
import io
import json
import os
import struct
import sys
import zlib

OUT, SHARED = sys.argv[1], sys.argv[2]

# The merges the harnesses' fixed tokenizer files use (tests/fuzz/fuzz-targets.c, small_merges).
SMALL_MERGES = ["t h", "i n", "a n", "th e</w>", "e r", "o n", "in g</w>", "a t", "c at</w>", "p h"]


def seed(harness, name, data):
    folder = os.path.join(OUT, harness)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------------ safetensors

DTYPES = {"F32": ("<f", 4), "F16": ("<e", 2), "BF16": (None, 2), "F64": ("<d", 8), "I64": ("<q", 8),
          "I32": ("<i", 4), "I16": ("<h", 2), "I8": ("<b", 1), "U8": ("<B", 1), "BOOL": ("<?", 1)}


def encode_values(dtype, values):
    fmt, size = DTYPES[dtype]
    if dtype == "BF16":
        return b"".join(struct.pack("<f", v)[2:] for v in values)
    if dtype == "BOOL":
        return bytes(1 if v else 0 for v in values)
    if dtype in ("I64", "I32", "I16", "I8", "U8"):
        values = [int(v * 10) % 100 for v in values]
    return b"".join(struct.pack(fmt, v) for v in values)


def safetensors(tensors, metadata=None):
    """TENSORS: (name, dtype, shape) in order; values follow a fixed formula."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for index, (name, dtype, shape) in enumerate(tensors):
        n = 1
        for d in shape:
            n *= d
        blob = encode_values(dtype, [((index * 7 + i * 3) % 17 - 8) / 16 for i in range(n)])
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def micro_model(naming, dtype="F32"):
    """A complete CLIP small enough to fuzz: vision 8 wide, patch 2 on 4×4 images, text 8 wide."""
    vw, tw, f, p, vpos, ctx, vocab, embed = 8, 8, 16, 2, 5, 4, 8, 4
    out = []
    if naming == "hf":
        out += [("logit_scale", dtype, []),
                ("text_model.embeddings.position_embedding.weight", dtype, [ctx, tw]),
                ("text_model.embeddings.token_embedding.weight", dtype, [vocab, tw]),
                ("text_model.final_layer_norm.bias", dtype, [tw]),
                ("text_model.final_layer_norm.weight", dtype, [tw]),
                ("text_projection.weight", dtype, [embed, tw]),
                ("vision_model.embeddings.class_embedding", dtype, [vw]),
                ("vision_model.embeddings.patch_embedding.weight", dtype, [vw, 3, p, p]),
                ("vision_model.embeddings.position_embedding.weight", dtype, [vpos, vw]),
                ("vision_model.post_layernorm.bias", dtype, [vw]),
                ("vision_model.post_layernorm.weight", dtype, [vw]),
                ("vision_model.pre_layrnorm.bias", dtype, [vw]),
                ("vision_model.pre_layrnorm.weight", dtype, [vw]),
                ("visual_projection.weight", dtype, [embed, vw])]
        for prefix, w in (("text_model.encoder.layers.0.", tw), ("vision_model.encoder.layers.0.", vw)):
            out += [(prefix + "layer_norm1.bias", dtype, [w]), (prefix + "layer_norm1.weight", dtype, [w]),
                    (prefix + "layer_norm2.bias", dtype, [w]), (prefix + "layer_norm2.weight", dtype, [w]),
                    (prefix + "mlp.fc1.bias", dtype, [f]), (prefix + "mlp.fc1.weight", dtype, [f, w]),
                    (prefix + "mlp.fc2.bias", dtype, [w]), (prefix + "mlp.fc2.weight", dtype, [w, f])]
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                out += [(prefix + "self_attn." + proj + ".bias", dtype, [w]),
                        (prefix + "self_attn." + proj + ".weight", dtype, [w, w])]
    else:
        out += [("ln_final.bias", dtype, [tw]), ("ln_final.weight", dtype, [tw]), ("logit_scale", dtype, []),
                ("positional_embedding", dtype, [ctx, tw]), ("text_projection", dtype, [tw, embed]),
                ("token_embedding.weight", dtype, [vocab, tw]), ("visual.class_embedding", dtype, [vw]),
                ("visual.conv1.weight", dtype, [vw, 3, p, p]), ("visual.ln_post.bias", dtype, [vw]),
                ("visual.ln_post.weight", dtype, [vw]), ("visual.ln_pre.bias", dtype, [vw]),
                ("visual.ln_pre.weight", dtype, [vw]), ("visual.positional_embedding", dtype, [vpos, vw]),
                ("visual.proj", dtype, [vw, embed])]
        for prefix, w in (("transformer.resblocks.0.", tw), ("visual.transformer.resblocks.0.", vw)):
            out += [(prefix + "attn.in_proj_bias", dtype, [3 * w]), (prefix + "attn.in_proj_weight", dtype, [3 * w, w]),
                    (prefix + "attn.out_proj.bias", dtype, [w]), (prefix + "attn.out_proj.weight", dtype, [w, w]),
                    (prefix + "ln_1.bias", dtype, [w]), (prefix + "ln_1.weight", dtype, [w]),
                    (prefix + "ln_2.bias", dtype, [w]), (prefix + "ln_2.weight", dtype, [w]),
                    (prefix + "mlp.c_fc.bias", dtype, [f]), (prefix + "mlp.c_fc.weight", dtype, [f, w]),
                    (prefix + "mlp.c_proj.bias", dtype, [w]), (prefix + "mlp.c_proj.weight", dtype, [w, f])]
    return out


MICRO_CONFIG = {
    "vision": {"width": 8, "layers": 1, "heads": 1, "mlp_width": 16, "ln_eps": 1e-5, "activation": "quick_gelu"},
    "text": {"width": 8, "layers": 1, "heads": 2, "mlp_width": 16, "ln_eps": 1e-5, "activation": "gelu"},
    "image_size": 4, "patch_size": 2, "context_length": 4, "vocab_size": 8, "embed_dim": 4, "eot_id": 7,
    "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
}
TINY_CONFIG = dict(MICRO_CONFIG, vision={"width": 64, "layers": 2, "heads": 4, "mlp_width": 256, "ln_eps": 1e-5,
                                          "activation": "quick_gelu"},
                   text={"width": 48, "layers": 2, "heads": 4, "mlp_width": 192, "ln_eps": 1e-5,
                         "activation": "quick_gelu"},
                   image_size=64, patch_size=16, context_length=16, vocab_size=1000, embed_dim=32, eot_id=999)

cliplab_metadata = {"cliplab.format": "1", "cliplab.config": json.dumps(MICRO_CONFIG),
                    "cliplab.tokenizer": json.dumps({"kind": "bytes"})}
models = {
    "micro-hf-f32": safetensors(micro_model("hf")),
    "micro-hf-f16": safetensors(micro_model("hf", "F16"), {"format": "pt"}),
    "micro-openai-bf16": safetensors(micro_model("openai", "BF16")),
    "micro-cliplab": safetensors(micro_model("hf"), cliplab_metadata),
}
for name, data in models.items():
    seed("safetensors", name, data)
    seed("model-weights", name, data)
seed("safetensors", "every-dtype", safetensors([(d.lower(), d, [3, 1]) for d in DTYPES] + [("scalar", "F32", [])]))
seed("safetensors", "empty", safetensors([]))
seed("safetensors", "metadata-only", safetensors([], {"format": "pt", "key": "value"}))
seed("safetensors", "zero-sized", safetensors([("a", "F32", [0, 4]), ("b", "F16", [2])]))
tiny = os.path.join(SHARED, "golden/models/tiny_quickgelu/hf/model.safetensors")
if os.path.exists(tiny):
    with open(tiny, "rb") as f:
        head = f.read(8)
        header = f.read(struct.unpack("<Q", head)[0])
    # The real header with its data cut: a near miss that carries every tensor name.
    seed("safetensors", "tiny-header-only", head + header)

# ------------------------------------------------------------------ configs

tiny_config_path = os.path.join(SHARED, "golden/models/tiny_quickgelu/hf/config.json")
if os.path.exists(tiny_config_path):
    with open(tiny_config_path) as f:
        hf = json.load(f)
    seed("config-hf", "tiny", json.dumps(hf, indent=2))
    legacy = dict(hf, text_config_dict=hf["text_config"], vision_config_dict=hf["vision_config"])
    seed("config-hf", "legacy-dicts", json.dumps(legacy))
    seed("config-hf", "eos-placeholder", json.dumps(dict(hf, text_config=dict(hf["text_config"], eos_token_id=2))))
    gelu = {k: v for k, v in hf.items()}
    gelu["vision_config"] = dict(hf["vision_config"], hidden_act="gelu")
    seed("config-hf", "gelu", json.dumps(gelu))
seed("config-hf", "minimal", json.dumps({"projection_dim": 32, "text_config": {}, "vision_config": {}}))

open_clip = {"embed_dim": 32, "quick_gelu": True,
             "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 16},
             "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 48, "heads": 4, "layers": 2}}
seed("config-open-clip", "model-cfg", json.dumps(
    {"model_cfg": open_clip, "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}, indent=2))
seed("config-open-clip", "bare", json.dumps(open_clip))
seed("config-open-clip", "mlp-ratio", json.dumps(dict(open_clip, vision_cfg=dict(open_clip["vision_cfg"], mlp_ratio=4.0,
                                                                                     heads=4))))

seed("config-preprocessor", "objects", json.dumps(
    {"crop_size": {"height": 64, "width": 64}, "do_center_crop": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
     "image_std": [0.26862954, 0.26130258, 0.27577711], "size": {"shortest_edge": 64}}, indent=2))
seed("config-preprocessor", "ints", json.dumps({"crop_size": 64, "size": 64, "image_mean": [0.5, 0.5, 0.5],
                                                "image_std": [0.5, 0.5, 0.5]}))
seed("config-preprocessor", "empty", "{}")

# ------------------------------------------------------------------ tokenizers


def byte_symbols():
    printable = [b for b in range(256) if 33 <= b <= 126 or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    table, shifted = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


def vocab_for(merges):
    symbols = byte_symbols()
    tokens = [symbols[b] for b in range(256)] + [symbols[b] + "</w>" for b in range(256)]
    tokens += [m.replace(" ", "", 1) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}


real_merges = []
gz_path = os.path.join(SHARED, "data/clip-bpe/bpe_simple_vocab_16e6.txt.gz")
if os.path.exists(gz_path):
    with gzip.open(gz_path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    real_header, real_merges = lines[0], lines[1:301]

seed("tokenizer-vocab", "small", json.dumps(vocab_for(SMALL_MERGES), ensure_ascii=False))
seed("tokenizer-vocab", "small-escaped", json.dumps(vocab_for(SMALL_MERGES)))
seed("tokenizer-merges", "derived", b"\0" + ("#version: 0.2\n" + "\n".join(SMALL_MERGES) + "\n").encode())
seed("tokenizer-merges", "with-vocab", b"\1" + ("#version: 0.2\n" + "\n".join(SMALL_MERGES) + "\n").encode())
seed("tokenizer-merges", "no-header", b"\0" + "\n".join(SMALL_MERGES).encode())
if real_merges:
    seed("tokenizer-merges", "real-300", b"\0" + ("#version: 0.2\n" + "\n".join(real_merges) + "\n").encode())
for name, merges in (("small", SMALL_MERGES), ("real-300", real_merges)):
    if not merges:
        continue
    vocab = vocab_for(merges)
    tokenizer = {"version": "1.0", "added_tokens": [
        {"id": vocab["<|startoftext|>"], "content": "<|startoftext|>", "special": True},
        {"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True}],
        "model": {"type": "BPE", "dropout": None, "unk_token": "<|endoftext|>", "continuing_subword_prefix": "",
                  "end_of_word_suffix": "</w>", "fuse_unk": False, "vocab": vocab, "merges": merges}}
    seed("tokenizer-json", name, json.dumps(tokenizer, ensure_ascii=False))
    pairs = dict(tokenizer, model=dict(tokenizer["model"], merges=[m.split(" ") for m in merges]))
    seed("tokenizer-json", name + "-pairs", json.dumps(pairs, ensure_ascii=False))

    serial = {"kind": "bpe", "merges": merges}
    seed("metadata", "tokenizer-" + name, json.dumps(serial, ensure_ascii=False))
    seed("metadata", "tokenizer-vocab-" + name, json.dumps(dict(serial, vocab=vocab), ensure_ascii=False))
seed("metadata", "tokenizer-bytes", json.dumps({"kind": "bytes"}))
seed("metadata", "config-micro", json.dumps(MICRO_CONFIG))
seed("metadata", "config-tiny", json.dumps(TINY_CONFIG))

openai_header = "\"bpe_simple_vocab_16e6.txt#version: 0.2\""
small_text = openai_header + "\n" + "\n".join(SMALL_MERGES) + "\n"
seed("tokenizer-gz", "small-gz", b"\0" + gzip.compress(small_text.encode(), mtime=0))
seed("tokenizer-gz", "small-text", b"\1" + small_text.encode())
if real_merges:
    seed("tokenizer-gz", "real-300-text", b"\1" + (real_header + "\n" + "\n".join(real_merges)).encode())
    with open(gz_path, "rb") as f:
        seed("tokenizer-gz", "real-truncated", b"\0" + f.read(8192))

# ------------------------------------------------------------------ text

strings_path = os.path.join(SHARED, "golden/tokenizer/strings.json")
strings = []
if os.path.exists(strings_path):
    with open(strings_path) as f:
        strings = json.load(f)
    strings = strings if isinstance(strings, list) else list(strings.values())
strings += ["a photo of a cat", "  Spaces\tand\nnewlines  ", "&amp;lt;html&gt;", "<|endoftext|> inside",
            "caf\u00e9 na\u00efve \u00c6sir \u0130stanbul \u03a3\u039f\u03a3", "\U0001F600\U0001F44D\U0001F3FD emoji",
            "x" * 300]
for i, s in enumerate(strings):
    if isinstance(s, str):
        seed("tokenizer-encode", "string-%02d" % i, bytes([75]) + s.encode())
seed("tokenizer-encode", "invalid-utf8", bytes([20]) + b"abc \xff\xfe \xc3( \xed\xa0\x80 \xf4\x90\x80\x80 end")
seed("tokenizer-encode", "overlong", bytes([5]) + b"\xc0\xaf\xe0\x80\xaf")

# ------------------------------------------------------------------ images

for name, head in (("square", bytes([0x0F, 0x0F, 0xFF, 0x70])), ("strip", bytes([0x00, 0xFF, 0x0F, 0x6F])),
                   ("tiny", bytes([0, 0, 0, 0])), ("constant", bytes([0x10, 0x08, 0x33, 0xF0]))):
    seed("image-preprocess", name, head + bytes((i * 37) % 256 for i in range(300)))

images = os.path.join(SHARED, "golden/images")
for name in ("small_100x80.png", "gray_257x129.png", "palette_200x200.png", "photo_512x384.jpg"):
    path = os.path.join(images, name)
    if os.path.exists(path):
        with open(path, "rb") as f:
            seed("image-file", name, b"\0" + f.read())


def png(width, height, bit_depth, colour_type, raw):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


seed("image-file", "rgb16.png", b"\0" + png(4, 3, 16, 2, b"".join(b"\0" + bytes(range(24)) for _ in range(3))))
seed("image-file", "huge-header.png", b"\0" + png(30000, 30000, 8, 2, b"\0" * 16))
try:
    from PIL import Image
    picture = Image.new("RGB", (12, 9), (200, 40, 90))
    for fmt, mode, name in (("GIF", "P", "anim.gif"), ("BMP", "RGB", "pic.bmp"), ("TIFF", "RGB", "pic.tif"),
                            ("JPEG", "CMYK", "cmyk.jpg"), ("ICO", "RGBA", "pic.ico"), ("PPM", "RGB", "pic.ppm")):
        buffer = io.BytesIO()
        if fmt == "GIF":
            frames = [Image.new("P", (12, 9), c) for c in (1, 2, 3)]
            frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
        else:
            picture.convert(mode).save(buffer, fmt)
        seed("image-file", name, b"\1" + buffer.getvalue())
except ImportError:
    pass

# ------------------------------------------------------------------ data sets (fuzz_csv's image root)

seed("csv", "labels", "image_path,caption,label\ncat.png,a photo of a cat,cat\nsub/dog.png,a dog,dog\n")
seed("csv", "quoted", '\ufeffimage_path,caption\r\n"cat.png","a cat, ""quoted"",\nover two lines"\r\n'
                      'sub/dog.png,\r\n../escape.png,x\r\nescape.png,linked out\r\ntext.png,not an image\r\n')
seed("csv", "columns", "caption,image_path,label,extra\na cat,cat.png,1,x\nmissing,nothere.png,2,y\n,sub/dog.png,3\n")
seed("csv", "bad-header", "path,text\ncat.png,a cat\n")


def tar(members):
    import tarfile
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


TINY_PNG = png(3, 2, 8, 2, b"".join(b"\0" + bytes(range(9)) for _ in range(2)))
seed("webdataset", "classes", tar([("a.png", TINY_PNG), ("a.cls", b"1"), ("b.png", TINY_PNG), ("b.cls", b"2")]))
seed("webdataset", "captions", tar([("a.png", TINY_PNG), ("a.txt", b"a cat\nthe cat\n"), ("dir/b.png", TINY_PNG),
                                    ("dir/b.txt", b"a dog")]))
seed("webdataset", "bad", tar([("a.png", TINY_PNG), ("a.cls", b"7"), ("b.png", b"junk"), ("b.cls", b"x"), ("c.cls", b"0")]))
seed("webdataset", "cut", tar([("a.png", TINY_PNG), ("a.cls", b"0"), ("b.png", TINY_PNG), ("b.cls", b"1")])[:1300])
seed("coco", "captions", json.dumps({
    "images": [{"id": 1, "file_name": "cat.png"}, {"id": 2, "file_name": "sub/dog.png"}, {"id": 3, "file_name": "text.png"}],
    "annotations": [{"id": 1, "image_id": 1, "caption": "a cat"}, {"id": 2, "image_id": 2, "caption": "a dog"},
                    {"id": 3, "image_id": 1, "caption": "a dog"}, {"id": 4, "image_id": 3, "caption": "text"},
                    {"id": 5, "image_id": 9, "caption": "nobody"}]}))
seed("karpathy", "splits", json.dumps({"images": [
    {"filename": "cat.png", "split": "test", "sentences": [{"raw": "a cat"}, {"raw": "the cat"}]},
    {"filepath": "sub", "filename": "dog.png", "split": "test", "sentences": [{"raw": "a dog"}]},
    {"filename": "escape.png", "split": "test", "sentences": [{"raw": "out"}]},
    {"filename": "cat.png", "split": "train", "sentences": [{"raw": "x"}]}], "dataset": "fuzz"}))

# ------------------------------------------------------------------ the index (fuzz_index: byte 0 even =
# entries [length][path][selector: even compacted, odd journal], 0xFF, damage [hi][lo][xor or 0 = cut])


def index_spec(entries, damage=b"", flags=0):
    out = bytes([flags])
    for path, journal in entries:
        out += bytes([len(path)]) + path + bytes([1 if journal else 0])
    return out + (b"\xff" + damage if damage else b"")


seed("index", "compacted", index_spec([(b"a.jpg", 0), (b"sub/b.png", 0), (b"c.gif", 0)]))
seed("index", "journal", index_spec([(b"a.jpg", 0), (b"b.png", 0), (b"b.png", 1), (b"new/c.jpg", 1)]))
seed("index", "unclean", index_spec([(b"../up.jpg", 0), (b"ok.jpg", 1), (b"a//b.jpg", 1)]))
seed("index", "damaged", index_spec([(b"a.jpg", 0), (b"b.jpg", 1)], b"\x01\x00\x55\x00\x90\x01"))
seed("index", "truncated", index_spec([(b"a.jpg", 0), (b"b.jpg", 1)], b"\x01\x40\x00", flags=2))
# The three compacted 128-d rows' codes start at 2112 (header 192, block 1856, codes header 64).
seed("index", "codes-damaged", index_spec([(b"a.jpg", 0), (b"sub/b.png", 0), (b"c.gif", 0)], b"\x08\x4a\x55"))
seed("index", "codes-cut", index_spec([(b"a.jpg", 0), (b"sub/b.png", 0), (b"c.gif", 0)], b"\x09\x00\x00"))
seed("index", "raw-magic", b"\x01CLIPIDX\n\x01\x00\x00\x00\x04\x03\x02\x01" + bytes(120))
