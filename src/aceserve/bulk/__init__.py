"""``aceserve bulk``: many tasks from a JSONL or CSV file, through the client (``aceserve.client``).

``parse.py`` reads the file into create bodies with line numbers and idempotency keys, ``manifest.py``
keeps what became of each line (and is what a rerun resumes from), ``run.py`` submits, follows and
downloads with bounded concurrency."""
