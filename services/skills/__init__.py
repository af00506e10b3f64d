"""Understanding vs reasoning: label every sample and say how well the labeller works (REFERENCE.md §3).

- ``embedders``: samples to vectors (TF-IDF, packaged MiniLM, any local Hugging Face model);
- ``classifier``: class-balanced logistic regression and its stratified k-fold report;
- ``data``: MedXpertQA training samples (and any benchmark) read without needing their images;
- ``labeller``: train / save / load / label, versioned by a fingerprint of what decides the labels;
- ``store``: labels in the ``sample_labels`` table and ``labels_for`` for scoring.
"""
