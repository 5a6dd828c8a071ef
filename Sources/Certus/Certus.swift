@_exported import CertusTensor
@_exported import CertusGraph
@_exported import CertusONNX
@_exported import CertusLP
@_exported import CertusSpec
@_exported import CertusBounds
@_exported import CertusVerify
@_exported import CertusLipschitz
