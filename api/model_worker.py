"""`python -m api.model_worker`: runs model jobs (train, evaluate, activate, roll back) one at a time, for
deployments where the app does not (MODEL_JOBS_IN_APP=false): it needs Rasa's CLI (RASA_COMMAND), the training
files and the models folder the Rasa servers read."""
from __future__ import annotations

import logging
import signal
import threading

from bot.admin.model_jobs import ModelWorker
from bot.common.settings import exit_if_unsafe
from bot.ledger.db import migrate


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exit_if_unsafe("the model worker")
    migrate()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    worker = ModelWorker()
    worker.start()
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    worker.stop()


if __name__ == "__main__":
    main()
