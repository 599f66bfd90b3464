"""Scores of predictions: mse, mae, psnr, ssim per step (``scores``) and LPIPS (``lpips``)."""
