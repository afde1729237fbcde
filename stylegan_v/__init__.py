"""stylegan_v"""
