# SPDX-License-Identifier: LGPL-2.1-or-later
'''ModemManager mock template for python3-dbusmock

python3-dbusmock 0.28 ships no ModemManager template; this one plays
ModemManager 1.20 as far as a client that sends and receives SMS sees it:
the manager's ObjectManager (modems only, as ModemManager exports them), a
modem with the Modem, Modem3gpp and Messaging interfaces, and Sms objects.

Messaging.Create makes an Sms object; Sms.Send records what was sent (see
GetSent, and GetReportRequests for whether each asked for a delivery
report). The test drives it through methods on org.freedesktop.DBus.Mock:
AddModem, RemoveModem, ReceiveSms (a complete message, or one whose parts
are still coming, completed by CompleteSms), ReportDelivery (the network's
delivery report of a sent message, as ModemManager sets DeliveryState from
it), GetSent and GetMessages.
'''

import dbus

from dbusmock import MOCK_IFACE, mockobject

BUS_NAME = 'org.freedesktop.ModemManager1'
MAIN_OBJ = '/org/freedesktop/ModemManager1'
MAIN_IFACE = 'org.freedesktop.ModemManager1'
SYSTEM_BUS = True
IS_OBJECT_MANAGER = True

MODEM_IFACE = 'org.freedesktop.ModemManager1.Modem'
MODEM_3GPP_IFACE = 'org.freedesktop.ModemManager1.Modem.Modem3gpp'
MESSAGING_IFACE = 'org.freedesktop.ModemManager1.Modem.Messaging'
SMS_IFACE = 'org.freedesktop.ModemManager1.Sms'
OBJECT_MANAGER_IFACE = 'org.freedesktop.DBus.ObjectManager'

MODEM_PATH = MAIN_OBJ + '/Modem/0'

# MMModemState, MMSmsState, MMSmsPduType, MMModem3gppRegistrationState
STATE_DISABLED = 3
STATE_REGISTERED = 8
SMS_UNKNOWN, SMS_STORED, SMS_RECEIVING, SMS_RECEIVED, SMS_SENDING, SMS_SENT = 0, 1, 2, 3, 4, 5
PDU_DELIVER, PDU_SUBMIT = 1, 2
REG_HOME = 1


def load(mock, parameters):
    mock.AddMethods(MAIN_IFACE, [
        ('ScanDevices', '', '', ''),
        ('SetLogging', 's', '', ''),
    ])
    mock.AddProperty(MAIN_IFACE, 'Version', dbus.String('1.20.4'))
    mock.sent = []
    mock.report_requests = []
    mock.sms_count = 0
    # ModemManager's ObjectManager lists modems, not their SMS objects
    mock.AddMethod(OBJECT_MANAGER_IFACE, 'GetManagedObjects', '', 'a{oa{sa{sv}}}',
                   'ret = {dbus.ObjectPath(k): objects[k].props for k in objects.keys() '
                   'if k.startswith("' + MAIN_OBJ + '/Modem/")}')
    if parameters.get('modem', True):
        add_modem(mock)


def _messaging(mock):
    return mockobject.objects[MODEM_PATH]


def _set_messages(mock, paths):
    modem = mockobject.objects[MODEM_PATH]
    modem.UpdateProperties(MESSAGING_IFACE, {
        'Messages': dbus.Array([dbus.ObjectPath(p) for p in paths], signature='o'),
    })


def _messages(mock):
    if MODEM_PATH not in mockobject.objects:
        return []
    return [str(p) for p in mockobject.objects[MODEM_PATH].props[MESSAGING_IFACE]['Messages']]


def _sms_send(obj):
    props = obj.props[SMS_IFACE]
    owner = mockobject.objects[MAIN_OBJ]
    if MODEM_PATH not in mockobject.objects:
        raise dbus.exceptions.DBusException('the modem is gone',
                                            name='org.freedesktop.ModemManager1.Error.Core.WrongState')
    owner.sent.append((str(props['Number']), str(props['Text'])))
    owner.report_requests.append(bool(props['DeliveryReportRequest']))
    obj.UpdateProperties(SMS_IFACE, {'State': dbus.UInt32(SMS_SENT)})


def _add_sms(mock, number, text, state, pdu_type, report=False):
    path = f'{MAIN_OBJ}/SMS/{mock.sms_count}'
    mock.sms_count += 1
    mock.AddObject(path, SMS_IFACE, {
        'State': dbus.UInt32(state),
        'PduType': dbus.UInt32(pdu_type),
        'Number': dbus.String(number),
        'Text': dbus.String(text),
        'Data': dbus.Array([], signature='y'),
        'SMSC': dbus.String(''),
        'Validity': dbus.Struct((dbus.UInt32(0), dbus.UInt32(0, variant_level=1)), signature='uv'),
        'Class': dbus.Int32(-1),
        'TeleserviceId': dbus.UInt32(0),
        'ServiceCategory': dbus.UInt32(0),
        'DeliveryReportRequest': dbus.Boolean(report),
        'MessageReference': dbus.UInt32(0),
        'Timestamp': dbus.String('2026-11-23T10:00:00+01:00' if pdu_type == PDU_DELIVER else ''),
        'DischargeTimestamp': dbus.String(''),
        'DeliveryState': dbus.UInt32(0x100),
        'Storage': dbus.UInt32(0),
    }, [])
    obj = mockobject.objects[path]
    obj.AddMethod(SMS_IFACE, 'Send', '', '', lambda self: _sms_send(self))
    obj.AddMethod(SMS_IFACE, 'Store', 'u', '', '')
    _set_messages(mock, _messages(mock) + [path])
    return path


def _create(modem, properties):
    mock = mockobject.objects[MAIN_OBJ]
    number = str(properties.get('number', ''))
    text = str(properties.get('text', ''))
    if not number:
        raise dbus.exceptions.DBusException('no number',
                                            name='org.freedesktop.ModemManager1.Error.Core.InvalidArgs')
    report = bool(properties.get('delivery-report-request', False))
    return dbus.ObjectPath(_add_sms(mock, number, text, SMS_UNKNOWN, PDU_SUBMIT, report))


def _delete(modem, path):
    mock = mockobject.objects[MAIN_OBJ]
    path = str(path)
    if path not in _messages(mock):
        raise dbus.exceptions.DBusException('no such SMS',
                                            name='org.freedesktop.ModemManager1.Error.Core.NotFound')
    _set_messages(mock, [p for p in _messages(mock) if p != path])
    mock.RemoveObject(path)
    modem.EmitSignal(MESSAGING_IFACE, 'Deleted', 'o', [dbus.ObjectPath(path)])


def _enable(modem, enable):
    modem.UpdateProperties(MODEM_IFACE, {
        'State': dbus.Int32(STATE_REGISTERED if enable else STATE_DISABLED)})


def add_modem(mock, state=STATE_REGISTERED):
    mock.AddObject(MODEM_PATH, MODEM_IFACE, {
        'Sim': dbus.ObjectPath('/'),
        'SimSlots': dbus.Array([], signature='o'),
        'PrimarySimSlot': dbus.UInt32(0),
        'Bearers': dbus.Array([], signature='o'),
        'SupportedCapabilities': dbus.Array([dbus.UInt32(8)], signature='u'),
        'CurrentCapabilities': dbus.UInt32(8),
        'MaxBearers': dbus.UInt32(1),
        'MaxActiveBearers': dbus.UInt32(1),
        'Manufacturer': dbus.String('Quectel'),
        'Model': dbus.String('EC25'),
        'Revision': dbus.String('EC25EFAR06A06M4G'),
        'CarrierConfiguration': dbus.String(''),
        'CarrierConfigurationRevision': dbus.String(''),
        'HardwareRevision': dbus.String('10000'),
        'DeviceIdentifier': dbus.String('a1b2c3'),
        'Device': dbus.String('/sys/devices/platform/scb/fd500000.pcie/usb1/1-1/1-1.3'),
        'Drivers': dbus.Array(['qmi_wwan', 'option'], signature='s'),
        'Plugin': dbus.String('quectel'),
        'PrimaryPort': dbus.String('cdc-wdm0'),
        'Ports': dbus.Array([], signature='(su)'),
        'EquipmentIdentifier': dbus.String('861234567890123'),
        'UnlockRequired': dbus.UInt32(1),
        'UnlockRetries': dbus.Dictionary({}, signature='uu'),
        'State': dbus.Int32(state),
        'StateFailedReason': dbus.UInt32(0),
        'AccessTechnologies': dbus.UInt32(1 << 14),
        'SignalQuality': dbus.Struct((dbus.UInt32(71), dbus.Boolean(True)), signature='ub'),
        'OwnNumbers': dbus.Array([], signature='s'),
        'PowerState': dbus.UInt32(3),
        'SupportedModes': dbus.Array([], signature='(uu)'),
        'CurrentModes': dbus.Struct((dbus.UInt32(0), dbus.UInt32(0)), signature='uu'),
        'SupportedBands': dbus.Array([], signature='u'),
        'CurrentBands': dbus.Array([], signature='u'),
        'SupportedIpFamilies': dbus.UInt32(7),
    }, [])
    modem = mockobject.objects[MODEM_PATH]
    modem.AddMethod(MODEM_IFACE, 'Enable', 'b', '', _enable)
    modem.AddProperties(MODEM_3GPP_IFACE, {
        'Imei': dbus.String('861234567890123'),
        'RegistrationState': dbus.UInt32(REG_HOME),
        'OperatorCode': dbus.String('20801'),
        'OperatorName': dbus.String('Orange F'),
        'EnabledFacilityLocks': dbus.UInt32(0),
        'SubscriptionState': dbus.UInt32(0),
        'EpsUeModeOperation': dbus.UInt32(0),
        'Pco': dbus.Array([], signature='(ubay)'),
        'InitialEpsBearer': dbus.ObjectPath('/'),
        'InitialEpsBearerSettings': dbus.Dictionary({}, signature='sv'),
        'PacketServiceState': dbus.UInt32(0),
        'Nr5gRegistrationSettings': dbus.Dictionary({}, signature='sv'),
    })
    modem.AddProperties(MESSAGING_IFACE, {
        'Messages': dbus.Array([], signature='o'),
        'SupportedStorages': dbus.Array([dbus.UInt32(2)], signature='u'),
        'DefaultStorage': dbus.UInt32(2),
    })
    modem.AddMethod(MESSAGING_IFACE, 'List', '', 'ao',
                    lambda self: dbus.Array([dbus.ObjectPath(p) for p in _messages(mock)],
                                            signature='o'))
    modem.AddMethod(MESSAGING_IFACE, 'Delete', 'o', '', _delete)
    modem.AddMethod(MESSAGING_IFACE, 'Create', 'a{sv}', 'o', _create)
    mock.object_manager_emit_added(MODEM_PATH)


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='')
def AddModem(self):
    '''Plugs the modem in'''
    add_modem(self)


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='')
def RemoveModem(self):
    '''Unplugs the modem, and its messages go with it'''
    for path in _messages(self):
        self.RemoveObject(path)
    self.object_manager_emit_removed(MODEM_PATH)
    self.RemoveObject(MODEM_PATH)


@dbus.service.method(MOCK_IFACE, in_signature='ssb', out_signature='o')
def ReceiveSms(self, number, text, complete):
    '''A message arrives; with complete false its parts are still coming'''
    path = _add_sms(self, number, text, SMS_RECEIVED if complete else SMS_RECEIVING, PDU_DELIVER)
    mockobject.objects[MODEM_PATH].EmitSignal(MESSAGING_IFACE, 'Added', 'ob',
                                              [dbus.ObjectPath(path), True])
    return path


@dbus.service.method(MOCK_IFACE, in_signature='o', out_signature='')
def CompleteSms(self, path):
    '''The last part of a message arrived'''
    mockobject.objects[str(path)].UpdateProperties(SMS_IFACE,
                                                   {'State': dbus.UInt32(SMS_RECEIVED)})


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='a(ss)')
def GetSent(self):
    '''The (number, text) of every message sent, oldest first'''
    return dbus.Array(self.sent, signature='(ss)')


@dbus.service.method(MOCK_IFACE, in_signature='ou', out_signature='')
def ReportDelivery(self, path, state):
    '''The network's report for a sent message: an MMSmsDeliveryState'''
    mockobject.objects[str(path)].UpdateProperties(SMS_IFACE,
                                                   {'DeliveryState': dbus.UInt32(state)})


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='ab')
def GetReportRequests(self):
    '''Whether each message sent asked for a delivery report, oldest first'''
    return dbus.Array(self.report_requests, signature='b')


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='ao')
def GetMessages(self):
    '''The SMS objects the modem holds'''
    return dbus.Array([dbus.ObjectPath(p) for p in _messages(self)], signature='o')
