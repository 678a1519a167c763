"""Run one job in this process until killed: the victim of the kill-and-resume test.

Usage: python -m tests.helpers.run_job_process BASE_URL N_DOCUMENTS
Prints the job id on the first line, then works until the job ends or the process is killed.
"""

from __future__ import annotations

import sys

from analyzer.jobs import JobStore, Runner
from analyzer.schema import PRESETS


def main() -> None:
    base_url, count = sys.argv[1], int(sys.argv[2])
    store = JobStore()
    documents = [
        (f"doc-{n:02d}.txt", f"Invoice number: INV-{n:02d}\n".encode()) for n in range(count)
    ]
    job_id = store.create_job(
        schema=PRESETS["invoice"].to_dict(),
        settings={"base_url": base_url, "model": "fake-model"},
        concurrency=1,
        documents=documents,
    )
    print(job_id, flush=True)
    runner = Runner(store)
    runner.submit(job_id)
    runner.wait(job_id)


if __name__ == "__main__":
    main()
