# Sourced by run.sh and test.sh: make .venv and install a requirements file when it changed.
# usage: source scripts/venv.sh requirements.txt
req="$1"
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv…"
  "${PYTHON:-python3}" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$req")"
digest=$(cat requirements*.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "Installing the Python packages of $req (the first time takes a minute or two)…"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  echo "$digest" > "$stamp"
  echo "Packages installed."
fi
