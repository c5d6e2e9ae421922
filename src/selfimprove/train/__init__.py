"""Thin adapters over TRL trainers (SFT, DPO); the loop decides what data they see."""
