"""The `soulchat` console command."""
