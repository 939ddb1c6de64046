"""Document-level actor knowledge: who a document is talking about, sentence by sentence.

* ``gazetteer``: named people and the target each role maps to (labels/people.toml).
* ``tracker``: reads one document's sentences in order and gives each the actors in play.
* ``context``: runs the tracker over records and turns its output into model features.
"""
