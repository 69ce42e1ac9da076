import pytest

from ecorec.recall.popular import PopularRecall
from ecorec.testing.recall import RecallChannelContract


class TestPopularContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        return PopularRecall({"n": 50})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data
