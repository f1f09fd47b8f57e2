-- A stand-in for mqtt.protocol: the CONNECT packet type.
return { CONNECT = 1, PUBLISH = 3 }
