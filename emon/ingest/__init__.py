"""From raw MQTT messages to typed device messages, with counted rejections."""
