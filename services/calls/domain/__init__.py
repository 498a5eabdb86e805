"""The calls domain, pure: commands, the call folded from its events (model), decide, refusals."""
