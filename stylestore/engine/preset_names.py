"""How many built-in presets there are and what they are called, without torch.

Apart from the network (``presets``) so that forms and model validation in a web
process can name the presets without importing torch (hundreds of MB per process).
The packaged file carries no names for the styles, so they are "Preset 0".."Preset 25".
"""
NUM_PRESETS = 26
PRESET_NAMES = tuple(f"Preset {i}" for i in range(NUM_PRESETS))
