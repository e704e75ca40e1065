"""Image-to-video (`/animate`): the pieces that do not depend on a provider or on Discord.

- `brush`: the seven-colour palette, reading and checking a member's brush PNG (transparent,
  or painted over the picture) into one index image.
- `masks`: that index in each provider's form (Kling's per-area masks, the colour-indexed PNG)
  and back.
- `paths`: parsing "green: 120,400 180,380; purple: ...", checking and resampling paths,
  and the top-left / bottom-left coordinate flip Kling needs.
- `camera`: the camera moves as people name them, mapped to Kling's `{type, config}`.
- `capabilities`: which provider, model, mode and duration accepts which option, as cited data.
- `plan`: every check before money is spent, in one call, producing an `AnimateRequest`.
- `preview`: the one picture a member sees before paying.
- `models`: the provider-neutral request models.

The simulator's renderer for this kind lives with the other providers:
`bot/providers/simulator_animate.py`. The rules members read are in docs/animate.md.
"""
