"""A Rasa role of several replicas (RASA_URL "a,b"), against the real Rasa server: it runs a model only when every
replica does, and a load or a warm-up reaches each of them."""
from __future__ import annotations

import pytest

from bot.admin.model_jobs import RasaServer
from scripts import servers
from scripts.services import free_port

pytestmark = pytest.mark.e2e


def test_a_role_runs_a_model_only_when_every_replica_runs_it(bot_servers: servers.Servers) -> None:
    url, token = bot_servers.rasa_url, bot_servers.token
    alone = RasaServer(url, token)
    model = alone.loaded_model()
    assert model is not None and model.startswith("acuerdo-")
    both = RasaServer(f" {url}/ ,{url}", token)  # the same server twice: two replicas as far as the role knows
    assert both.replicas == [url, url] and both.url == f"{url},{url}"
    assert both.loaded_model() == model
    both.load(f"models/{model}.tar.gz")  # every replica already runs it: nothing is reloaded
    assert both.loaded_model() == model and both.parse("hola") == alone.parse("hola")
    one_down = RasaServer(f"{url},http://127.0.0.1:{free_port()}", token)
    assert one_down.loaded_model() is None  # a half-loaded or half-down role is not "running" anything
