from setuptools import find_packages, setup

setup(
    name="gatepost",
    version="0.1.0",
    description="Checkpoint software for a residential community's gate: face, temperature, QR, turnstile.",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["edge", "edge.*", "drivers", "drivers.*", "models", "collector", "collector.*"]),
    package_data={"models": ["manifest.json"]},
    install_requires=[
        "numpy>=1.26",
        "opencv-python>=4.9",
        "insightface>=0.7",
        "onnxruntime>=1.19",
        "onnx>=1.16",
        "pyzbar>=0.1.9",
        "pyserial>=3.5",
        "paho-mqtt>=2.0",
        "pydantic>=2.6",
        "PyYAML>=6.0",
        "segno>=1.6",
        "tqdm>=4.66",
        "cryptography>=42",
    ],
    extras_require={
        "gpio": ["gpiod>=2.1"],
        "postgres": ["psycopg[binary]>=3.1"],
        "test": ["pytest>=8", "pytest-timeout>=2.3", "psutil>=5.9", "jsonschema>=4.20"],
    },
    entry_points={"console_scripts": ["gatepost=edge.cli:main"]},
)
