"""The theory chapter's numerical claims, checked on closed forms."""
import torch

from whynot.experiments.theory import prop1_trajectories, two_blobs


def test_prop1_softmax_difference_tracks_sigmoid_weights_exactly_at_half_the_rate():
    x, u = two_blobs(n=64, seed=3)
    traj = prop1_trajectories(x, u, lr=0.8, steps=200)
    torch.testing.assert_close(traj.w_diff, traj.w_sigmoid, rtol=0, atol=1e-12)
    torch.testing.assert_close(traj.loss_softmax, traj.loss_sigmoid, rtol=0, atol=1e-12)
    assert traj.loss_sigmoid[-1] < 0.6 * traj.loss_sigmoid[0]  # it did learn


def test_prop1_same_rate_moves_the_difference_twice_as_fast_on_the_first_step():
    x, u = two_blobs(n=64, seed=3)
    traj = prop1_trajectories(x, u, lr=0.1, steps=1, softmax_lr=0.1)
    torch.testing.assert_close(traj.w_diff[1], 2 * traj.w_sigmoid[1], rtol=0, atol=1e-12)
