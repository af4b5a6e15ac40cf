"""critic: formal analysis of paintings, offline, with GalleryGPT through llama.cpp.

The layout, floor by floor. A module imports only from floors below its own (and from its
own package); tests/test_layout.py reads every import and holds the code to this table.
Only `critic` is installed as a top-level package: the stage folders at the repository's
top level are mapped into it by pyproject.toml, so a user's own `train.py` or `convert.py`
can never be imported in their place.

  floor  package              folder            what it holds
  0      critic.core          critic/core/      errors, paths, the prompt format, images, atomic
                                                 stores, manifests, GGUF checks, perspectives,
                                                 requests in flight: light, imported by everyone
  1      critic.facts         critic/facts/     what can be measured on the canvas, the claim checker
         critic.engine        critic/engine/    llama.cpp and server engines, the model registry,
                                                 the prefix cache; the only place an engine is built
         critic.llava         llava/            reading LLaVA checkpoints (convert and train share it)
  2      critic.analyze       critic/analyze/   an analysis record, and the job behind `critic analyze`
         critic.history       critic/history.py saved conversations
         critic.example       critic/example.py the seascape critic draws itself
         critic.annotate      annotate/         the PaintingForm data from LLM APIs
         critic.train         train/            LoRA fine-tuning
         critic.convert       convert/          merge and export (GGUF, transformers), verify
         critic.evaluation    evaluation/       the paper's Table 1 and Table 2
  3      critic.gallery       critic/gallery/   a folder of paintings: catalogue, order, batches
         critic.report        critic/report/    self-contained HTML reports (draws on the gallery)
         critic.models        critic/models/    getting models: pull from a hub, build GalleryGPT
                                                 from its release (convert), push
  4      critic.tui           critic/tui/       the Textual screens
  5      critic.cli           critic/cli/       the verbs; heavy stages are imported inside them

The model-building stages (annotate, train, convert) and the evaluation live in top-level
folders because they need the heavy extras (torch, transformers, peft, openai, nltk) and
run apart from the laptop runtime; evaluation sits with them because it judges the model
they build, though it runs on the runtime's engine.
"""

__version__ = "0.1.0"
