import torch

from common.task import adam
from steganography.models.image_in_image import ImageInImageDecoder, ImageInImageEncoder, ImageInImageLoss, ImageInImageNetwork, to_grey
from steganography.tasks.image_in_image import ImageInImageTask


def test_encoder_decoder_shapes_and_every_parameter_gets_a_gradient():
    encoder, decoder = ImageInImageEncoder(depth=7, channels=16), ImageInImageDecoder(16)
    cover, secret = torch.rand(2, 3, 24, 40), torch.rand(2, 1, 24, 40)
    stego = encoder(cover, secret)
    revealed = decoder(stego)
    assert stego.shape == cover.shape and revealed.shape == secret.shape
    ImageInImageLoss()(cover, stego, secret, revealed)["loss"].backward()
    for name, parameter in [*encoder.named_parameters(), *decoder.named_parameters()]:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_guest_joins_host_at_alternating_layers_up_to_depth():
    encoder = ImageInImageEncoder(depth=7, channels=16)
    assert encoder.merge_layers == [0, 2, 4, 6]
    in_channels = [layer[0].in_channels for layer in encoder.host]
    assert in_channels == [19, 16, 32, 16, 32, 16, 32]


def test_loss_is_zero_for_perfect_hiding_and_to_grey_weights():
    cover, secret = torch.rand(1, 3, 8, 8), torch.rand(1, 1, 8, 8)
    assert ImageInImageLoss()(cover, cover, secret, secret)["loss"] == 0
    white = torch.ones(1, 3, 2, 2)
    torch.testing.assert_close(to_grey(white), torch.ones(1, 1, 2, 2))


def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    task = ImageInImageTask(ImageInImageNetwork(depth=3, channels=8), optimizer=adam(1e-2))
    optimiser = task.configure_optimizers()
    batch = {"image": torch.rand(4, 3, 16, 16), "secret": torch.rand(4, 3, 16, 16)}
    losses = []
    for _ in range(40):
        optimiser.zero_grad()
        loss = task.training_step(batch, 0)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0]


def test_task_loads_a_state_saved_before_its_network_held_encoder_and_decoder():
    source = ImageInImageTask(ImageInImageNetwork(depth=3, channels=8))
    legacy = {key.removeprefix("network."): value for key, value in source.state_dict().items()}
    assert {key.split(".")[0] for key in legacy} == {"encoder", "decoder"}
    task = ImageInImageTask(ImageInImageNetwork(depth=3, channels=8))
    task.load_state_dict(legacy)
    assert all(torch.equal(value, task.state_dict()[key]) for key, value in source.state_dict().items())
